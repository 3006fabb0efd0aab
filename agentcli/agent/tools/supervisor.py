"""The shell supervisor: a tiny process that makes a command die with agentcli.

Run as a script, never imported by agentcli itself (stdlib only, so ``python -I -S``
starts it in about 10 ms)::

    python -I -S supervisor.py SHELL COMMAND GRACE

stdin is the *lifeline*, a pipe whose only write end agentcli holds. The supervisor
starts ``SHELL -c COMMAND`` in a process group of its own inside the supervisor's session
(agentcli starts the supervisor as a session leader, so the session id is the
supervisor's pid), with ``AGENTCLI_RUN=<supervisor pid>`` in its environment, stdin from
``/dev/null`` and its own stdout/stderr (the output pipe to agentcli). Both let agentcli
(``reaper.sweep``) find what is left of the command even if it killed the supervisor.
Then it waits:

- lifeline EOF (agentcli exited or was SIGKILLed): SIGKILL the command's group;
- ``T`` on the lifeline (timeout): SIGTERM the group, SIGKILL it after GRACE seconds;
- SIGTERM or SIGHUP to the supervisor: SIGKILL the group;
- the shell exits: end what it left running in its group, then exit with its status
  (128+N when signal N ended it).

On Linux it is a child subreaper: descendants that left the group (``setsid``, daemons)
are re-parented to it when their parents die, and are killed before it exits.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

_LEFTOVER_GRACE = 0.5
_SWEEP_SECONDS = 1.0


class Group:
    """The command's process group, led by the shell's pid."""

    def __init__(self, pid: int):
        self.pid = pid
        self.reaped = False

    def kill(self, sig: int) -> None:
        """Send ``sig`` to the whole group."""
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            if not self.reaped:  # the shell may not have called setsid yet
                _kill(self.pid, sig, group=False)
        except PermissionError:
            pass

    def alive(self) -> bool:
        """Whether any process (not a zombie of ours) is left in the group."""
        _reap()
        try:
            os.killpg(self.pid, 0)
        except OSError:
            return False
        return True


def main(argv: list[str]) -> int:
    """Supervise ``argv = [shell, command, grace]``; return the exit status to report."""
    shell, command, grace = argv[0], argv[1], float(argv[2])
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda *_: None)  # caught (not ignored): exec resets them
    _become_subreaper()
    pid = os.fork()
    if pid == 0:
        _exec_shell(shell, command)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # stop holding the output pipe: agentcli's EOF must mean "command done"
    os.dup2(null, 2)
    group = Group(pid)
    status = _wait(group, wake_r, grace)
    group.reaped = True
    if group.alive():  # leftovers such as "server &": TERM, a moment, then KILL
        group.kill(signal.SIGTERM)
        until = time.monotonic() + min(grace, _LEFTOVER_GRACE)
        while group.alive() and time.monotonic() < until:
            time.sleep(0.01)
        group.kill(signal.SIGKILL)
    _sweep_orphans()
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _exec_shell(shell: str, command: str) -> None:
    try:
        # A group of its own, inside our session (agentcli started us as a session
        # leader): if the command kills us, agentcli still finds all of it by session id.
        os.setpgid(0, 0)
        os.environ["AGENTCLI_RUN"] = str(os.getppid())  # the mark reaper.sweep looks for
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; a shell must not
            signal.signal(sig, signal.SIG_DFL)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.execv(shell, [shell, "-c", command])
    except BaseException as exc:
        os.write(2, f"agentcli: cannot start {shell}: {exc}\n".encode())
    os._exit(127)


def _wait(group: Group, wake_r: int, grace: float) -> int:
    """Wait for the shell to exit, acting on the lifeline and signals; its wait status."""
    watch = [0, wake_r]
    kill_at: float | None = None
    while True:
        wait = None if kill_at is None else max(0.0, kill_at - time.monotonic())
        ready = select.select(watch, [], [], wait)[0]
        if wake_r in ready:
            caught = os.read(wake_r, 512)
            if signal.SIGTERM in caught or signal.SIGHUP in caught:
                group.kill(signal.SIGKILL)
        if 0 in ready:
            message = os.read(0, 512)
            if not message:  # agentcli is gone
                group.kill(signal.SIGKILL)
                watch.remove(0)
            elif b"T" in message and kill_at is None:
                group.kill(signal.SIGTERM)
                kill_at = time.monotonic() + grace
        if kill_at is not None and time.monotonic() >= kill_at:
            group.kill(signal.SIGKILL)
            kill_at = float("inf")
        done, status = os.waitpid(group.pid, os.WNOHANG)
        if done:
            return status


def _become_subreaper() -> None:
    try:  # Linux only; orphaned descendants are then re-parented to us, not to init
        import ctypes

        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except Exception:
        pass


def _sweep_orphans() -> None:
    """Kill re-parented descendants (and their groups) until none is left."""
    until = time.monotonic() + _SWEEP_SECONDS
    while time.monotonic() < until:
        _reap()
        orphans = _children()
        if not orphans:
            return
        for child in orphans:
            _kill(child, signal.SIGKILL, group=True)
            _kill(child, signal.SIGKILL, group=False)
        time.sleep(0.01)


def _children() -> list[int]:
    try:
        with open(f"/proc/self/task/{os.getpid()}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except (OSError, ValueError):
        return []


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _kill(pid: int, sig: int, *, group: bool) -> None:
    try:
        (os.killpg if group else os.kill)(pid, sig)
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
