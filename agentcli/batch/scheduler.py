"""Local workers: ``--workers N`` threads, each driving one task process at a time.

The queue is the batch file itself: a worker claims the next task (an interrupted one
first, then the first queued) in one committed step, so the driver holds no list of
tasks in memory and a kill at any moment leaves every task in a state ``batch resume``
reads: ``running`` tasks become ``interrupted`` and are resumed through their session.
``--max-cost`` is checked before each start: once the batch has spent it, nothing new
starts (and no task may spend more than what was left when it started). Ctrl-C, SIGTERM
or SIGHUP tell every task process to stop (each saves its session) and end with 130.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agentcli.agent.events import Event, EventSink
from agentcli.batch.attempt import AttemptRun, BatchLayout, RunSettings
from agentcli.batch.batchfile import BatchFile, Outcome, TaskRow
from agentcli.batch.launch import Running, launch

DEFAULT_WORKERS = 4


@dataclass
class BatchResult:
    """How a run of the batch ended: its status, exit code and task counts."""

    status: str
    exit_code: int
    counts: dict[str, int]
    cost_usd: float
    duration_ms: int


class LocalScheduler:
    """Run a batch's tasks on this machine, ``settings.workers`` at a time.

    Example:
        >>> result = LocalScheduler(batch, settings, emit).run()
    """

    runner = "local"

    def __init__(self, batch: BatchFile, settings: RunSettings, emit: EventSink,
                 launcher: Callable[..., Running] = launch):
        self.batch = batch
        self.layout = BatchLayout.of(batch.path)
        self.settings = settings
        self.emit = emit
        self.launcher = launcher
        self.stopping = threading.Event()
        self.budget_spent = False
        self._claim_lock = threading.Lock()
        self._given_up: set[str] = set()  # tasks whose process died too often in this run
        self._tries: dict[str, int] = {}

    def run(self) -> BatchResult:
        """Run until every task has finished, the budget is spent, or a signal stops it."""
        started = time.monotonic()
        self.batch.set_status("running")
        threads = [threading.Thread(target=self._work, name=f"batch-worker-{n}", daemon=True)
                   for n in range(self.settings.workers or DEFAULT_WORKERS)]
        with stop_on_signals(self.stopping.set):
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)
        return finish(self.batch, self.emit, started, stopped=self.stopping.is_set(),
                      budget_spent=self.budget_spent)

    def _work(self) -> None:
        while not self.stopping.is_set():
            claimed = self._claim()
            if claimed is None:
                return
            task, attempt_id, budget_left = claimed
            self._run_one(task, attempt_id, budget_left)

    def _claim(self) -> tuple[TaskRow, int, float | None] | None:
        """The next task to start and its budget, or None when nothing more may start."""
        with self._claim_lock:
            budget_left = remaining(self.batch, self.settings.max_cost)
            if budget_left is not None and budget_left <= 0:
                self.budget_spent = True
                return None
            claimed = self.batch.claim_next(self.runner, skip=self._given_up)
            if claimed is None:
                return None
            return claimed[0], claimed[1], budget_left

    def _run_one(self, task: TaskRow, attempt_id: int, budget_left: float | None) -> None:
        number = task.attempts + 1
        run = AttemptRun(self.batch, self.layout, self.settings, task, attempt_id, number, self.launcher,
                         on_started=lambda pid, session: self.emit(started_event(task, number, pid, session)))
        try:
            outcome, duration = run.run(self.stopping.is_set, budget_left)
        except Exception as err:  # an interface or storage failure: the task is resumable
            outcome, duration = Outcome("interrupted", None, error=f"the batch could not run it: {err}"), 0
        self.batch.finish(task.id, attempt_id, outcome, duration)
        if outcome.status == "interrupted" and not self.stopping.is_set():
            tries = self._tries[task.id] = self._tries.get(task.id, 0) + 1
            if tries > self.settings.retries:
                self._given_up.add(task.id)
        self.emit(finished_event(self.batch.task(task.id), outcome, duration, self.batch.spent()))


def remaining(batch: BatchFile, max_cost: float | None) -> float | None:
    """What is left of the batch's budget (None: no budget)."""
    return None if max_cost is None else max_cost - batch.spent()


def started_event(task: TaskRow, attempt: int, pid: int | None, session: object) -> Event:
    """``task.started``: a task's process began an attempt."""
    return Event("task.started", {"task": task.id, "line": task.line, "attempt": attempt,
                                  "resumed": session is not None, "pid": pid,
                                  "workspace": task.workspace})


def finished_event(task: TaskRow, outcome: Outcome, duration_ms: int, spent: float) -> Event:
    """``task.finished``: an attempt ended; the task's status, what it cost, the batch's total."""
    return Event("task.finished", {
        "task": task.id, "line": task.line, "status": task.status, "exit_code": outcome.exit_code,
        "session": task.session_id, "session_path": task.session_path, "cost_usd": task.cost_usd,
        "turns": task.turns, "files_changed": task.files_changed, "duration_ms": duration_ms,
        "error": outcome.error, "answer": task.answer, "batch_cost_usd": spent,
    })


def finish(batch: BatchFile, emit: EventSink, started: float, *, stopped: bool,
           budget_spent: bool) -> BatchResult:
    """Settle the batch's status and exit code after a run, and emit ``batch.finished``.

    Exit codes: 130 stopped by a signal; 1 a task failed, or tasks are left (budget spent,
    processes that kept dying); 6 a task was denied (and none failed); 0 every task done.
    """
    counts = batch.counts()
    left = counts["queued"] + counts["interrupted"] + counts["running"]
    if stopped:
        status, code = "interrupted", 130
    elif left:
        status, code = ("stopped" if budget_spent else "interrupted"), 1
    else:
        status = "done"
        code = 1 if counts["failed"] else 6 if counts["denied"] else 0
    batch.set_status(status)
    duration = int((time.monotonic() - started) * 1000)
    result = BatchResult(status, code, counts, batch.spent(), duration)
    emit(Event("batch.finished", {"batch": batch.path.stem, "status": status, "exit_code": code,
                                  "counts": counts, "cost_usd": result.cost_usd, "duration_ms": duration,
                                  "budget_spent": budget_spent}))
    return result


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP call ``stop`` (the tasks then save and stop) while inside."""
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    wanted = [getattr(signal, name) for name in names if hasattr(signal, name)]
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop()) for sig in wanted}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
