"""What runs inside a Ray worker: one attempt of one task, its session file sent back.

Ray calls :func:`run_remote` with a plain dict (the job) and gets a plain dict back, so
this module imports neither Ray nor anything heavy. The session runs in a temporary
folder of the node (``--sessions-dir``): a file the driver sent (an earlier attempt's)
is put there first and resumed; when the attempt ends, a consistent copy of the session
file (SQLite's backup: committed rows only, the write-ahead log folded in) goes back
with the exit code, the events and stderr. The task's folder is the driver's path when
the node sees it (one machine, a shared file system); else a repo task is checked out
on the node at its commit, with the diff of the session it resumes applied.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

from agentcli.batch.child import ChildJob
from agentcli.batch.launch import launch
from agentcli.batch.repos import git, reset_worktree
from agentcli.store.lock import process_alive

STDERR_KEPT = 20_000  # characters of an attempt's stderr sent back
SCRATCH = "agentcli-batch-"  # + the worker's pid: a folder whose worker died is swept by the next


def run_remote(job: dict[str, Any]) -> dict[str, Any]:
    """Run one attempt of a task on this node and return its result (see the module doc)."""
    _sweep()
    scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH}{os.getpid()}-"))
    try:
        sessions = scratch / "sessions"
        sessions.mkdir(mode=0o700)
        session = None
        if job.get("session_bytes"):
            session = sessions / job["session_name"]
            session.write_bytes(job["session_bytes"])
            session.chmod(0o600)
        workspace = _workspace(job, scratch, resuming=session is not None)
        where = ["-p", "--json", "-C", str(workspace), "--sessions-dir", str(sessions), *job["flags"]]
        args = ["resume", str(session), *where] if session is not None else ["new", *where, "-"]
        events, stderr = scratch / "events.jsonl", scratch / "stderr"
        child = ChildJob(args, cwd=str(workspace), env={**os.environ, **job["env"]},
                         stdin_text="" if session is not None else job["prompt"],
                         stdout_path=str(events), stderr_path=str(stderr), watch_pid=os.getpid())
        code = launch(child, mode="exec").wait()
        found = sorted(sessions.glob("*.sqlite"))
        return {
            "exit_code": code, "events": events.read_text(errors="replace") if events.exists() else "",
            "stderr": stderr.read_text(errors="replace")[-STDERR_KEPT:] if stderr.exists() else "",
            "session_name": found[-1].name if found else None,
            "session_bytes": snapshot(found[-1]) if found else None,
            "worker": f"{_node()} pid {os.getpid()}",
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _sweep() -> None:
    """Remove the scratch folders of workers that were killed (their pid is gone)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH}*-*"):
        pid = folder.name[len(SCRATCH):].split("-", 1)[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)



def snapshot(path: Path) -> bytes:
    """A whole, consistent copy of a SQLite file as bytes (its committed rows only, the
    write-ahead log folded in), made in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="agentcli-snapshot-") as folder:
        copy = Path(folder) / path.name
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        target = sqlite3.connect(copy)
        try:
            source.backup(target)
        finally:
            target.close()
            source.close()
        return copy.read_bytes()


def _workspace(job: dict[str, Any], scratch: Path, *, resuming: bool) -> Path:
    """The folder the session runs in on this node (see the module docstring)."""
    path = Path(job["workspace"])
    commit = job.get("commit")
    if path.is_dir():
        if commit and not resuming:
            reset_worktree(path, commit)  # a retry that starts again never sees half of a first try
        return path
    if not (job.get("repo") and commit):
        raise FileNotFoundError(f"the task's workspace {path} is not on this node: Ray workers need the "
                                "batch's folders (one machine, or a shared file system), or a repo task")
    work = scratch / "work"
    git(["clone", "--quiet", "--no-checkout", job["repo"], str(work)])
    git(["checkout", "--quiet", "--detach", commit], cwd=work)
    if resuming and job.get("diff"):
        patch = scratch / "session.diff"
        patch.write_text(job["diff"])
        git(["apply", "--binary", str(patch)], cwd=work)
    return work


def _node() -> str:
    """``node <id>`` of the Ray node this runs on (``node ?`` outside a Ray worker: asking Ray
    there would start a cluster)."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return "node ?"
    return f"node {ray.get_runtime_context().get_node_id()[:8]}"
