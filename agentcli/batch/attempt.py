"""One attempt of one task: its work tree, its ``agentcli`` command line, its process.

A task with no session yet starts one (``agentcli new -p --json -``, the prompt on
stdin); a task with a session resumes it (``agentcli resume FILE -p --json``), which
first finishes its interrupted turn — exactly what ``agentcli resume`` does for a person.
Each task's session lives in its own folder of the batch (``sessions/<task id>/``), so a
session the driver never heard of (it was killed the moment the session was made) is
still found there. Each attempt's events and stderr are kept in ``logs/``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agentcli.batch.batchfile import BatchFile, Outcome, TaskRow, elapsed_ms
from agentcli.batch.child import ChildJob
from agentcli.batch.launch import Running
from agentcli.batch.outcome import outcome_of, read_events
from agentcli.batch.repos import ensure_worktree, reset_worktree
from agentcli.errors import AgentcliError

BUSY_WAIT_S = 60.0  # how long a resume waits for a session still held by a process of a dead driver
POLL_S = 0.1


@dataclass(frozen=True)
class BatchLayout:
    """The folders of one batch, beside its file: ``<id>/work``, ``sessions``, ``logs``, ``repos``."""

    root: Path

    @classmethod
    def of(cls, batch_path: Path) -> BatchLayout:
        """The layout of the batch whose file is ``batch_path``."""
        return cls(batch_path.with_suffix(""))

    def worktree(self, task_id: str) -> Path:
        """Where a repo task's worktree is."""
        return self.root / "work" / task_id

    def sessions(self, task_id: str) -> Path:
        """The folder of a task's session file."""
        return self.root / "sessions" / task_id

    def log(self, task_id: str, attempt: int, kind: str) -> Path:
        """An attempt's ``events.jsonl`` or ``stderr``."""
        return self.root / "logs" / f"{task_id}.{attempt}.{kind}"

    @property
    def repos(self) -> Path:
        """Where the batch's bare clones are."""
        return self.root / "repos"


@dataclass(frozen=True)
class RunSettings:
    """What every task of one run of the batch gets, besides its own line."""

    base_url: str | None = None
    model: str | None = None
    approval: str | None = None
    max_turns: int | None = None
    max_cost: float | None = None  # the whole batch's budget
    workers: int | None = None  # local: 4; Ray: the cluster's CPUs
    retries: int = 2  # attempts after the first, in one run, for a task whose process died
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))


def find_session(task: TaskRow, layout: BatchLayout) -> Path | None:
    """The task's session file: the one recorded, else the only one in its folder."""
    if task.session_path and Path(task.session_path).is_file():
        return Path(task.session_path)
    found = sorted(layout.sessions(task.id).glob("*.sqlite"))
    return found[-1] if found else None


def session_args(task: TaskRow, session: Path | None, layout: BatchLayout, settings: RunSettings,
                 budget_left: float | None) -> list[str]:
    """The ``agentcli`` arguments of the task's next attempt."""
    where = ["-p", "--json", "-C", task.workspace, "--sessions-dir", str(layout.sessions(task.id)),
             *task_flags(task, settings, budget_left)]
    return ["resume", str(session), *where] if session is not None else ["new", *where, "-"]


def task_flags(task: TaskRow, settings: RunSettings, budget_left: float | None) -> list[str]:
    """The settings flags of a task's session: its own line's, else the batch's."""
    spec = task.task
    options = {"--base-url": settings.base_url, "--model": spec.model or settings.model,
               "--approval": spec.approval or settings.approval,
               "--max-turns": spec.max_turns or settings.max_turns,
               "--max-cost": _least(spec.max_cost, budget_left)}
    return [part for flag, value in options.items() if value is not None for part in (flag, str(value))]


def _least(*values: float | None) -> float | None:
    given = [v for v in values if v is not None]
    return min(given) if given else None


def prepare_workspace(task: TaskRow, layout: BatchLayout, repos: dict[int, tuple[str, Path]],
                      fresh: bool) -> None:
    """Make a repo task's worktree; reset it when the task starts again without a session."""
    if task.repo_id is None or task.commit_sha is None:
        return
    path = Path(task.workspace)
    existed = (path / ".git").exists()
    ensure_worktree(repos[task.repo_id][1], path, task.commit_sha)
    if existed and fresh:
        reset_worktree(path, task.commit_sha)


def wait_until_free(session: Path, stop: Callable[[], bool], timeout: float = BUSY_WAIT_S) -> bool:
    """Wait for a session a process of a dead driver still holds (it is being told to stop);
    False when it is still held after ``timeout``."""
    from agentcli.store.durable import lock_path
    from agentcli.store.lock import is_locked

    until = time.monotonic() + timeout
    while is_locked(lock_path(session)):
        if time.monotonic() > until or stop():
            return False
        time.sleep(POLL_S)
    return True


@dataclass
class AttemptRun:
    """One attempt of a task as the local workers run it."""

    batch: BatchFile
    layout: BatchLayout
    settings: RunSettings
    task: TaskRow
    attempt_id: int
    number: int
    launch: Callable[[ChildJob], Running]
    on_started: Callable[[int | None, Path | None], None] = lambda pid, session: None

    def run(self, stop: Callable[[], bool], budget_left: float | None) -> tuple[Outcome, int]:
        """Run the attempt to its end (SIGTERM to it once ``stop()``); its outcome and duration."""
        started = time.monotonic()
        session = find_session(self.task, self.layout)
        try:
            if session is not None and not wait_until_free(session, stop):
                return Outcome("interrupted", None, error=f"session {session.stem} is still held by "
                               "another process"), elapsed_ms(started)
            prepare_workspace(self.task, self.layout, self.batch.repos(), fresh=session is None)
        except AgentcliError as err:
            return Outcome("failed", None, error=str(err)), elapsed_ms(started)
        events_path = self.layout.log(self.task.id, self.number, "events.jsonl")
        stderr_path = self.layout.log(self.task.id, self.number, "stderr")
        events_path.parent.mkdir(parents=True, exist_ok=True)
        self.layout.sessions(self.task.id).mkdir(parents=True, exist_ok=True)
        job = ChildJob(session_args(self.task, session, self.layout, self.settings, budget_left),
                       cwd=self.task.workspace, env=self.settings.env,
                       stdin_text="" if session is not None else self.task.prompt,
                       stdout_path=str(events_path), stderr_path=str(stderr_path), watch_pid=os.getpid())
        running = self.launch(job)
        self.batch.attempt_worker(self.attempt_id, f"pid {running.pid}")
        code = self._wait(running, events_path, session, stop)
        session = find_session(self.batch.task(self.task.id), self.layout)
        self.batch.record_session(self.task.id, session)  # None: a session agentcli did not keep
        stderr = stderr_path.read_text(errors="replace") if stderr_path.exists() else ""
        return outcome_of(code, read_events(events_path), session, stderr), elapsed_ms(started)

    def _wait(self, running: Running, events_path: Path, session: Path | None,
              stop: Callable[[], bool]) -> int | None:
        """Wait for the process; record its session as soon as its first event names it."""
        known = session is not None
        if known:
            self.batch.record_session(self.task.id, session)
        self.on_started(running.pid, session)
        told = False
        while True:
            code = running.wait(POLL_S)
            if not known:
                found = _started_session(events_path)
                if found is not None:
                    self.batch.record_session(self.task.id, found)
                    known = True
            if code is not None:
                return code
            if stop() and not told:
                running.terminate()
                told = True


def _started_session(events_path: Path) -> Path | None:
    """The session file named by an attempt's first event, once it has been written."""
    try:
        with events_path.open(encoding="utf-8") as events:
            first = events.readline()
    except OSError:
        return None
    if not first.endswith("\n"):
        return None
    try:
        event = json.loads(first)
    except ValueError:
        return None
    path = event.get("path") if event.get("type") == "session.started" else None
    return Path(path) if path else None
