"""``--ray ADDRESS``: each attempt of a task is a Ray task; the batch file stays here.

Ray places the tasks, retries one whose worker died (``max_retries``: it starts again
from the session file it was sent, or anew when it was sent none) and scales; the
driver only keeps a window of tasks submitted (``--workers``, default the cluster's
CPUs) so the budget can stop new starts, and writes each result into the batch file:
the session file that came back is stored in the task's sessions folder, then read for
the outcome exactly as a local one. A task that came back ``interrupted`` is submitted
again with the session file it sent back, to be resumed. After a driver that died,
``batch resume`` submits its running tasks again with the last session file that came
back (none: they start again).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from agentcli.agent.events import EventSink
from agentcli.batch.attempt import BatchLayout, RunSettings, find_session, prepare_workspace, task_flags
from agentcli.batch.batchfile import BatchFile, Outcome, TaskRow, elapsed_ms
from agentcli.batch.outcome import outcome_of, read_events_text
from agentcli.batch.ray_worker import snapshot
from agentcli.batch.scheduler import (
    BatchResult,
    finish,
    finished_event,
    remaining,
    started_event,
    stop_on_signals,
)
from agentcli.errors import AgentcliError, UsageError

FORWARDED = ("OPENAI_", "AGENTCLI_")  # the driver's variables a task needs on any node
WAIT_S = 0.2


class RayScheduler:
    """Submit a batch's tasks to a Ray cluster and record what comes back."""

    runner = "ray"

    def __init__(self, batch: BatchFile, settings: RunSettings, emit: EventSink, address: str):
        self.batch = batch
        self.layout = BatchLayout.of(batch.path)
        self.settings = settings
        self.emit = emit
        self.address = address
        self.stopping = False
        self.budget_spent = False
        self._given_up: set[str] = set()
        self._tries: dict[str, int] = {}

    def run(self) -> BatchResult:
        """Run until every task has finished, the budget is spent, or a signal stops it."""
        ray, ours = connect(self.address)
        try:
            return self._run(ray)
        finally:
            if ours:  # a cluster --ray local started goes with it; a shared one is only left
                ray.shutdown()

    def _run(self, ray: Any) -> BatchResult:
        from agentcli.batch.ray_worker import run_remote  # what Ray pickles: by reference

        remote = ray.remote(max_retries=self.settings.retries, num_cpus=1)(run_remote)
        window = self.settings.workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        started = time.monotonic()
        self.batch.set_status("running")
        inflight: dict[Any, tuple[TaskRow, int, float]] = {}
        with stop_on_signals(self._stop):
            while True:
                while not self.stopping and len(inflight) < window:
                    submitted = self._submit(remote)
                    if submitted is None:
                        break
                    inflight[submitted[0]] = submitted[1:]
                if not inflight or self.stopping:
                    break
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=WAIT_S)
                for ref in ready:
                    self._record(ray, ref, *inflight.pop(ref))
        for ref, (task, attempt_id, since) in inflight.items():  # stopped: they are resumed next time
            ray.cancel(ref, force=True)
            self.batch.finish(task.id, attempt_id, Outcome("interrupted", None, error="the batch was "
                                                           "stopped"), elapsed_ms(since))
        return finish(self.batch, self.emit, started, stopped=self.stopping, budget_spent=self.budget_spent)

    def _stop(self) -> None:
        self.stopping = True

    def _submit(self, remote: Any) -> tuple[Any, TaskRow, int, float] | None:
        budget_left = remaining(self.batch, self.settings.max_cost)
        if budget_left is not None and budget_left <= 0:
            self.budget_spent = True
            return None
        claimed = self.batch.claim_next(self.runner, skip=self._given_up)
        if claimed is None:
            return None
        task, attempt_id = claimed
        session = find_session(task, self.layout)
        try:
            prepare_workspace(task, self.layout, self.batch.repos(), fresh=False)
        except (AgentcliError, OSError):
            pass  # a node that does not share this folder checks the task out itself
        job = self._job(task, session, budget_left)
        self.emit(started_event(task, task.attempts + 1, None, session))
        return remote.remote(job), task, attempt_id, time.monotonic()

    def _job(self, task: TaskRow, session: Path | None, budget_left: float | None) -> dict[str, Any]:
        """What a worker needs: the prompt, the flags, the folder, and the last session file."""
        flags = task_flags(task, self.settings, budget_left)
        repos = self.batch.repos()
        return {
            "task": task.id, "prompt": task.prompt, "workspace": task.workspace, "flags": flags,
            "commit": task.commit_sha, "repo": repos[task.repo_id][0] if task.repo_id else None,
            "session_name": session.name if session else None,
            "session_bytes": snapshot(session) if session else None,
            "diff": self.batch.diff(task) if session else None,
            "env": {k: v for k, v in self.settings.env.items() if k.startswith(FORWARDED)},
        }

    def _record(self, ray: Any, ref: Any, task: TaskRow, attempt_id: int, since: float) -> None:
        try:
            result = ray.get(ref)
        except Exception as err:  # the worker died more often than Ray retries, or the task raised
            outcome = Outcome("interrupted", None, error=f"Ray: {str(err).splitlines()[0][:300]}")
        else:
            self.batch.attempt_worker(attempt_id, result["worker"])
            session = self._keep_session(task, result)
            outcome = outcome_of(result["exit_code"], read_events_text(result["events"]), session,
                                 result["stderr"])
        self.batch.finish(task.id, attempt_id, outcome, elapsed_ms(since))
        if outcome.status == "interrupted":
            tries = self._tries[task.id] = self._tries.get(task.id, 0) + 1
            if tries > self.settings.retries:
                self._given_up.add(task.id)
        self.emit(finished_event(self.batch.task(task.id), outcome, elapsed_ms(since), self.batch.spent()))

    def _keep_session(self, task: TaskRow, result: dict[str, Any]) -> Path | None:
        """Store the session file a worker sent back in the task's folder (replacing the older copy)."""
        if not result.get("session_bytes"):
            self.batch.record_session(task.id, find_session(task, self.layout))
            return find_session(task, self.layout)
        folder = self.layout.sessions(task.id)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / result["session_name"]
        partial = path.with_name(f".{path.name}.{os.getpid()}.arriving")
        partial.write_bytes(result["session_bytes"])
        partial.chmod(0o600)
        for stale in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)
        os.replace(partial, path)
        self.batch.record_session(task.id, path)
        return path


def connect(address: str) -> tuple[Any, bool]:
    """Ray, connected to ``address`` (``auto``: the running cluster; ``local``: start one here),
    and whether this call connected (the connection of this process when it has one already)."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: pip install 'agentcli[ray]'") from None
    if ray.is_initialized():
        return ray, False
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    try:
        ray.init(address=None if address == "local" else address, log_to_driver=False,
                 include_dashboard=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise UsageError(f"cannot reach the Ray cluster at {address!r} ({str(err).splitlines()[0]}): "
                         "start one with 'ray start --head', or pass --ray local to start one for this "
                         "batch") from None
    return ray, True
