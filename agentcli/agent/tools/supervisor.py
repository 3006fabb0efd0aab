"""The shell supervisor: one long-lived process that makes every command die with agentcli.

Run as a script, never imported by agentcli (stdlib only); agentcli starts it once, on
its first command, as ``python -I -S supervisor.py`` in a session of its own, so a
Ctrl-C or a hangup aimed at agentcli's terminal reaches neither it nor the commands.

stdin is the *control socket* (a Unix stream socket), whose other end only agentcli
holds. Inside a sandbox (``--ready``: agentcli wraps the command line in ``bwrap``), the
supervisor first writes ``R`` on it, so that agentcli knows the sandbox started. It is
the supervisor's lifeline: whenever agentcli dies — even by SIGKILL — the kernel closes
it, the supervisor reads EOF, SIGTERMs its command supervisors (which SIGKILL their
commands) and exits. Each request on it is one byte carrying two
descriptors (``socket.send_fds``): one end of the command's *channel*, a stream socket
pair whose other end only agentcli holds, and the write end of the command's *output
pipe*. For each, the supervisor forks a *command supervisor* (no new interpreter: a
fork costs well under a millisecond), which:

- makes a session of its own (its pid is the session id, so agentcli's
  ``reaper.sweep`` finds the command even if it kills its supervisor) and becomes a
  child subreaper (Linux), so descendants that leave the group (``setsid``, daemons)
  are re-parented to it when their parents die;
- reads the request from the channel (:func:`read_request`), enters its cwd (or writes
  ``E<errno> <reason>`` and exits) and writes ``S<pid>``;
- starts ``SHELL -c COMMAND`` in a process group of its own inside that session, with
  the request's environment plus ``AGENTCLI_RUN=<pid>`` (the mark ``reaper.sweep``
  looks for), stdin from ``/dev/null``, stdout and stderr to the output pipe;
- waits: channel EOF (agentcli is gone, or stops the command) → SIGKILL the group;
  ``T`` on the channel (timeout) → SIGTERM the group, SIGKILL after GRACE seconds;
  SIGTERM or SIGHUP → SIGKILL the group;
- when the shell exits, ends what it left running in its group, kills re-parented
  descendants until none is left, writes ``X<status> <clean>`` and exits. status is the
  shell's (128+N when signal N ended it); clean is 1 when nothing the command started
  is left (0: agentcli must sweep for leftovers itself).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import sys
import time

_LEFTOVER_GRACE = 0.5
_SWEEP_SECONDS = 1.0
_LENGTH = struct.Struct("!I")  # the request's length prefix
_PR_SET_CHILD_SUBREAPER = 36


def serve(control: socket.socket) -> None:
    """Fork a command supervisor for each request on ``control`` until its EOF."""
    wake = _catch_signals()
    subreaper = _subreaper_switch()
    running: set[int] = set()
    while True:
        ready = select.select([control, wake], [], [])[0]
        if wake in ready:
            caught = os.read(wake, 512)
            _reap(running)
            if signal.SIGTERM in caught or signal.SIGHUP in caught:
                break
        if control in ready:
            data, fds, _flags, _address = socket.recv_fds(control, 1, 2)  # one request
            if not data:  # agentcli is gone
                break
            for fd in fds:  # received descriptors are inheritable: the shell must not get these
                os.set_inheritable(fd, False)
            if len(fds) == 2:
                try:
                    pid = os.fork()
                except OSError:  # agentcli sees its channel close without a start
                    pid = -1
                if pid == 0:
                    _command_child(control, wake, subreaper, fds[0], fds[1])
                if pid > 0:
                    running.add(pid)
            for fd in fds:
                os.close(fd)
    for pid in running:  # each SIGKILLs its command's group, sweeps and exits
        _kill(pid, signal.SIGTERM, group=False)


def _command_child(control: socket.socket, wake: int, subreaper: object, channel: int,
                   output: int) -> None:
    """In the forked child: supervise one command, then exit (never return to the loop)."""
    code = 70
    try:
        control.close()
        os.close(wake)
        os.open(os.devnull, os.O_RDONLY)  # takes fd 0 again
        code = supervise(channel, output, _catch_signals(), subreaper)
    finally:
        os._exit(code)


def supervise(channel: int, output: int, wake: int, subreaper: object) -> int:
    """Run one request from ``channel`` as described in the module docstring."""
    os.setsid()
    subreaping = _become_subreaper(subreaper)
    shell, command, cwd, grace, env = read_request(channel)
    try:
        os.chdir(cwd)
    except OSError as exc:
        _tell(channel, f"E{exc.errno} {exc.strerror}")
        return 1
    _tell(channel, f"S{os.getpid()}")
    env[b"AGENTCLI_RUN"] = str(os.getpid()).encode()
    pid = _spawn_shell(shell, command, output, env)
    os.close(output)  # agentcli's EOF must mean "every writer is done"
    group = Group(pid)
    status = _wait(group, channel, wake, grace)
    if group.alive():  # leftovers such as "server &": TERM, a moment, then KILL
        group.kill(signal.SIGTERM)
        until = time.monotonic() + min(grace, _LEFTOVER_GRACE)
        while group.alive() and time.monotonic() < until:
            time.sleep(0.01)
        group.kill(signal.SIGKILL)
    clean = _sweep_orphans() and subreaping and not group.alive()
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    _tell(channel, f"X{code} {int(clean)}")
    return 0


def read_request(channel: int) -> tuple[bytes, bytes, bytes, float, dict[bytes, bytes]]:
    """Shell, command, cwd, grace and environment: NUL-separated, after a length prefix."""
    size = _LENGTH.unpack(_read_exactly(channel, _LENGTH.size))[0]
    shell, command, cwd, grace, *variables = _read_exactly(channel, size).split(b"\0")
    env = dict(variable.partition(b"=")[::2] for variable in variables)
    return shell, command, cwd, float(grace), env


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise EOFError("agentcli closed the channel before the request was complete")
        data += chunk
    return data


def _spawn_shell(shell: bytes, command: bytes, output: int, env: dict[bytes, bytes]) -> int:
    """Start ``shell -c command`` in a process group of its own; its pid.

    A plain fork and exec: glibc's ``posix_spawn`` would be a little faster, but leaves
    its internal signals (SIGCANCEL, SIGSETXID) ignored in the shell and all it starts.
    """
    pid = os.fork()
    if pid == 0:
        _exec_shell(shell, command, output, env)
    try:  # from here too, so that the group exists before we may signal it
        os.setpgid(pid, pid)
    except OSError:  # the shell did it first (and has run exec since)
        pass
    return pid


def _exec_shell(shell: bytes, command: bytes, output: int, env: dict[bytes, bytes]) -> None:
    try:
        os.setpgid(0, 0)  # a group of its own, inside our session
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; a shell must not
            signal.signal(sig, signal.SIG_DFL)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.execve(shell, [shell, b"-c", command], env)
    except BaseException as exc:
        os.write(2, f"agentcli: cannot start {shell.decode(errors='replace')}: {exc}\n".encode())
    os._exit(127)


class Group:
    """The command's process group, led by the shell's pid."""

    def __init__(self, pid: int):
        self.pid = pid

    def kill(self, sig: int) -> None:
        """Send ``sig`` to the whole group."""
        try:
            os.killpg(self.pid, sig)
        except OSError:  # nothing left of it
            pass

    def alive(self) -> bool:
        """Whether any process (not a zombie of ours) is left in the group."""
        _reap()
        try:
            os.killpg(self.pid, 0)
        except OSError:
            return False
        return True


def _wait(group: Group, channel: int, wake: int, grace: float) -> int:
    """Wait for the shell to exit, acting on the channel and signals; its wait status."""
    watch = [channel, wake]
    kill_at: float | None = None
    while True:
        wait = None if kill_at is None else max(0.0, kill_at - time.monotonic())
        ready = select.select(watch, [], [], wait)[0]
        if wake in ready:
            caught = os.read(wake, 512)
            if signal.SIGTERM in caught or signal.SIGHUP in caught:
                group.kill(signal.SIGKILL)
        if channel in ready:
            try:
                message = os.read(channel, 512)
            except OSError:
                message = b""
            if not message:  # agentcli is gone, or stops the command now
                group.kill(signal.SIGKILL)
                watch.remove(channel)
            elif b"T" in message and kill_at is None:
                group.kill(signal.SIGTERM)
                kill_at = time.monotonic() + grace
        if kill_at is not None and time.monotonic() >= kill_at:
            group.kill(signal.SIGKILL)
            kill_at = float("inf")
        done, status = os.waitpid(group.pid, os.WNOHANG)
        if done:
            return status


def _tell(channel: int, line: str) -> None:
    try:
        os.write(channel, line.encode() + b"\n")
    except OSError:  # agentcli is gone or stopped listening: nothing to tell
        pass


def _catch_signals() -> int:
    """A wake-up descriptor for SIGCHLD, SIGTERM, SIGHUP and SIGINT (caught, not ignored:
    exec resets caught signals to their defaults, so the shell gets them back)."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    inherited = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    if inherited != -1:  # a command supervisor's copy of the server's
        os.close(inherited)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    return wake_r


def _subreaper_switch() -> object:
    """libc's ``prctl``, loaded once here so that each command supervisor only calls it."""
    try:
        import ctypes

        return ctypes.CDLL(None).prctl
    except Exception:  # not Linux, no libc
        return None


def _become_subreaper(prctl: object) -> bool:
    """Have orphaned descendants re-parented to us, not to init; True when the kernel agreed."""
    try:
        return prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0  # type: ignore[operator]
    except Exception:
        return False


def _sweep_orphans() -> bool:
    """Kill re-parented descendants (and their groups); True once none is left."""
    until = time.monotonic() + _SWEEP_SECONDS
    while time.monotonic() < until:
        _reap()
        orphans = _children()
        if orphans is None:  # cannot tell: agentcli sweeps
            return False
        if not orphans:
            return True
        for sig in (signal.SIGSTOP, signal.SIGKILL):  # none runs on because another died first
            for child in orphans:
                _kill(child, sig, group=True)
                _kill(child, sig, group=False)
        time.sleep(0.01)
    return False


def _children() -> list[int] | None:
    try:
        with open(f"/proc/self/task/{os.getpid()}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except (OSError, ValueError):
        return None


def _reap(pids: set[int] | None = None) -> None:
    """Collect exited children (forgetting them from ``pids``)."""
    try:
        while True:
            pid = os.waitpid(-1, os.WNOHANG)[0]
            if not pid:
                return
            if pids is not None:
                pids.discard(pid)
    except ChildProcessError:
        pass


def _kill(pid: int, sig: int, *, group: bool) -> None:
    try:
        (os.killpg if group else os.kill)(pid, sig)
    except OSError:
        pass


if __name__ == "__main__":
    _control = socket.socket(fileno=sys.stdin.fileno())
    if "--ready" in sys.argv[1:]:  # started inside a sandbox: agentcli waits for this to know it runs
        _control.send(b"R")
    serve(_control)
