"""Start one task's ``agentcli`` process: forked from a warm interpreter, or exec'd.

A fresh ``python -m agentcli`` spends ~0.5 s of CPU importing the ``openai`` SDK before
it does anything; 32 tasks on a 2-core machine would spend 8 s on that alone. The local
workers therefore fork each task from a forkserver that imported agentcli and the SDK
once (``multiprocessing``'s forkserver: a single-threaded process that does nothing but
fork). Each child is still a process of its own — its own pid, signals, session lock —
running agentcli's own ``main``, exactly as the command would. ``exec`` mode
(``$AGENTCLI_BATCH_SPAWN=exec``, and the Ray workers) runs ``python -m agentcli.batch.child``.

Example:
    >>> running = launch(job)
    >>> code = running.wait()
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Any, Protocol

from agentcli.batch.child import ChildJob

# Loaded once, in the forkserver: everything a scripted run imports (agentcli/batch/warm.py).
PRELOAD = ("agentcli.batch.child", "agentcli.batch.warm")
_context_lock = threading.Lock()
_context: Any = None


class Running(Protocol):
    """A task process that was started."""

    pid: int | None

    def wait(self, timeout: float | None = None) -> int | None:
        """Its exit code (128 + N when signal N ended it), or None while it runs after ``timeout``."""
        ...

    def terminate(self) -> None:
        """Ask it to stop (SIGTERM: agentcli saves the session and exits 130)."""
        ...


def spawn_mode() -> str:
    """``fork`` (the default where the platform has it) or ``exec`` (``$AGENTCLI_BATCH_SPAWN``)."""
    wanted = os.environ.get("AGENTCLI_BATCH_SPAWN", "")
    if wanted in ("fork", "exec"):
        return wanted
    return "fork" if sys.platform.startswith("linux") else "exec"


def launch(job: ChildJob, mode: str | None = None) -> Running:
    """Start ``job`` as a process of its own."""
    if (mode or spawn_mode()) == "fork":
        return _Forked(job)
    return _Execed(job)


def prestart() -> None:
    """Start the forkserver now, where forking is the mode, so its imports (~0.5-2 s) run while
    the driver does its own work (reading the task file, cloning, creating the batch file)."""
    if spawn_mode() == "fork":
        import multiprocessing.forkserver

        _forkserver()
        multiprocessing.forkserver.ensure_running()


def exit_code(raw: int) -> int:
    """A process's exit code with a death by signal N as ``128 + N``, as a shell shows it."""
    return 128 - raw if raw < 0 else raw


class _Forked:
    """A child of the forkserver (``multiprocessing.Process``), running :func:`run_forked`."""

    def __init__(self, job: ChildJob):
        from agentcli.batch.child import run_forked

        process = _forkserver().Process(target=run_forked, args=(job,), daemon=False)
        process.start()
        self._process = process
        self.pid: int | None = process.pid

    def wait(self, timeout: float | None = None) -> int | None:
        self._process.join(timeout)
        code = self._process.exitcode
        return None if code is None else exit_code(code)

    def terminate(self) -> None:
        if self._process.exitcode is None:
            self._process.terminate()


class _Execed:
    """``python -m agentcli.batch.child PID ARGS`` as a plain subprocess."""

    def __init__(self, job: ChildJob):
        import tempfile

        with tempfile.TemporaryFile() as stdin, open(job.stdout_path, "wb") as out, \
                open(job.stderr_path, "wb") as err:
            stdin.write(job.stdin_text.encode())
            stdin.seek(0)
            self._popen = subprocess.Popen(
                [sys.executable, "-m", "agentcli.batch.child", str(job.watch_pid), *job.args],
                cwd=job.cwd, env=job.env, stdin=stdin, stdout=out, stderr=err)
        self.pid: int | None = self._popen.pid

    def wait(self, timeout: float | None = None) -> int | None:
        try:
            return exit_code(self._popen.wait(timeout))
        except subprocess.TimeoutExpired:
            return None

    def terminate(self) -> None:
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)


def _forkserver() -> Any:
    """The forkserver context, its preload set before it first starts."""
    global _context
    with _context_lock:
        if _context is None:
            import multiprocessing

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(PRELOAD))
            _context = context
        return _context
