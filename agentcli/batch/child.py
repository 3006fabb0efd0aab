"""The start of one task's ``agentcli`` process: die with the batch, then run the CLI.

A task's session is an ordinary ``agentcli new -p --json`` (or ``resume``) process. Its
one addition is a watchdog thread: when the process that launched it (the batch driver,
or a Ray worker) is gone — even by ``kill -9`` — it sends itself SIGTERM, which agentcli
turns into "save the session and exit 130", so the batch's ``resume`` finds an
interrupted session to resume and never a second process driving it.

Run as ``python -m agentcli.batch.child PID ARGS...`` (the exec launcher), or called as
:func:`run_forked` in a process forked from a warm interpreter (the local workers).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from typing import NoReturn

from agentcli.store.lock import process_alive

WATCH_POLL_S = 0.5  # how often a watchdog without pidfd asks whether the launcher lives


@dataclass(frozen=True)
class ChildJob:
    """What one task process runs: agentcli's arguments, where, with what, and who to outlive not."""

    args: list[str]
    cwd: str
    env: dict[str, str]
    stdin_text: str
    stdout_path: str
    stderr_path: str
    watch_pid: int


def die_with(pid: int) -> None:
    """Send this process SIGTERM once ``pid`` has ended (a daemon thread waits for it)."""
    threading.Thread(target=_watch, args=(pid,), daemon=True, name="batch-watchdog").start()


def _watch(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)  # Linux 5.3+: readable once the process has ended
    except (AttributeError, OSError):
        fd = None
    if fd is not None:
        select.select([fd], [], [])
    else:
        while process_alive(pid):
            threading.Event().wait(WATCH_POLL_S)
    os.kill(os.getpid(), signal.SIGTERM)



def run_forked(job: ChildJob) -> NoReturn:
    """In a freshly forked process: take the job's streams, folder and environment, then
    run agentcli exactly as ``python -m agentcli ARGS`` would (it ends the process)."""
    with tempfile.TemporaryFile() as prompt:
        prompt.write(job.stdin_text.encode())
        prompt.flush()
        prompt.seek(0)
        os.dup2(prompt.fileno(), 0)
    for fd, path in ((1, job.stdout_path), (2, job.stderr_path)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115 - the process's own stdin
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115 - a line an event
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115
    os.chdir(job.cwd)
    os.environ.clear()
    os.environ.update(job.env)
    _start(job.watch_pid, job.args)


def _start(watch_pid: int, args: list[str]) -> NoReturn:
    from agentcli.cli.app import main

    die_with(watch_pid)
    sys.argv = ["agentcli", *args]
    main()  # ends the process with agentcli's exit code
    raise SystemExit(1)  # not reached


if __name__ == "__main__":
    _start(int(sys.argv[1]), sys.argv[2:])
