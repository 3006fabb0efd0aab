"""The guard of one MCP server process: the server dies with agentcli, however agentcli dies.

Run as a script, never imported by agentcli (stdlib only), as the command the MCP SDK's
stdio client starts::

    python -I -S guard.py AGENTCLI_PID GRACE -- COMMAND [ARG...]

It makes sure it leads a process group of its own (the SDK starts it in a new session),
then forks and execs ``COMMAND`` in that group, with the stdin, stdout and stderr it was
given: the server talks to the SDK directly, the guard only watches. Its *lifeline* is
its parent: on Linux the kernel sends it SIGTERM the moment the agentcli thread that
started it dies (``PR_SET_PDEATHSIG``), even by SIGKILL, and everywhere it notices its
parent pid change within half a second. Then, or on SIGTERM, SIGHUP or SIGINT, it
SIGTERMs the whole group, waits up to ``GRACE`` seconds for the server, and SIGKILLs the
group (itself included). When the server exits on its own (its stdin closed: the SDK's
normal shutdown), the guard notes the status on stderr (the server's log) and SIGKILLs
what the server left running in the group.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

_PR_SET_PDEATHSIG = 1
_POLL_SECONDS = 0.5
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)


def main(argv: list[str]) -> int:
    """Start the server and watch it and the lifeline; returns only if the exec failed early."""
    if len(argv) < 4 or argv[2] != "--":
        sys.stderr.write("usage: guard.py AGENTCLI_PID GRACE -- COMMAND [ARG...]\n")
        return 2
    parent, grace, command = int(argv[0]), float(argv[1]), argv[3:]
    if os.getpgrp() != os.getpid():
        os.setsid()
    _die_with_parent()
    if os.getppid() != parent:  # agentcli died before the lifeline was set
        return 1
    wake = _catch_signals()
    pid = os.fork()
    if pid == 0:
        _exec(command)
    _let_go_of_pipes()
    while True:
        ready = select.select([wake], [], [], _POLL_SECONDS)[0]
        caught = os.read(wake, 512) if ready else b""
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            _note(f"the server exited with status {_describe(status)}")
            _kill_group(signal.SIGKILL)
        if any(sig in caught for sig in _STOP_SIGNALS) or os.getppid() != parent:
            _stop(pid, grace)


def _die_with_parent() -> None:
    """Ask Linux for SIGTERM when the thread that started us dies (elsewhere: polling only)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _catch_signals() -> int:
    """A pipe that receives the number of each stop signal and SIGCHLD as a byte."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    os.set_blocking(read_end, False)
    signal.set_wakeup_fd(write_end)
    for sig in (*_STOP_SIGNALS, signal.SIGCHLD):
        signal.signal(sig, lambda *_: None)
    return read_end


def _exec(command: list[str]) -> None:
    """In the child: default signal handling, then the server itself."""
    try:
        signal.set_wakeup_fd(-1)
        for sig in (*_STOP_SIGNALS, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.execvp(command[0], command)
    except OSError as exc:
        _note(f"cannot start {command[0]!r}: {exc.strerror}")
    finally:
        os._exit(127)


def _let_go_of_pipes() -> None:
    """Hold no end of the server's stdin and stdout: the SDK sees the server's output end
    when the server's own ends close, not when the guard's do."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)


def _stop(pid: int, grace: float) -> None:
    """SIGTERM the group, give the server ``grace`` seconds, then SIGKILL the group."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group's SIGTERM is for the others
    _kill_group(signal.SIGTERM)
    until = time.monotonic() + grace
    while time.monotonic() < until:
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.02)
    _kill_group(signal.SIGKILL)


def _kill_group(sig: int) -> None:
    try:
        os.killpg(os.getpgrp(), sig)
    except OSError:
        pass
    if sig == signal.SIGKILL:  # pragma: no cover - the line above ended this process
        os._exit(1)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"{128 + os.WTERMSIG(status)} (signal {os.WTERMSIG(status)})"
    return str(os.WEXITSTATUS(status))


def _note(line: str) -> None:
    try:
        os.write(2, f"agentcli guard: {line}\n".encode(errors="replace"))
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
