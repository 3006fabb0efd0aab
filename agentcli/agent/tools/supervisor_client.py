"""agentcli's end of the shell supervisor: started on the first command, shared by threads.

The supervisor (``supervisor.py``, run as a script) forks a command supervisor for each
command, which costs a fork instead of a Python start-up::

    launch() ──send_fds(channel end, output pipe)──▶ supervisor ──fork──▶ command supervisor
                                                                                │ fork, exec
    Channel ◀──── S<pid> … X<status> <clean> ──── channel ──────────────────▶ bash -c COMMAND

Only agentcli holds its ends of the control socket and of each channel, so its death,
even by SIGKILL, ends the supervisor and every command (see the supervisor module).

- If the supervisor is gone (a command killed it, say), the next :func:`launch` starts
  a new one; a request that was never acknowledged with ``S`` (so nothing ran) is sent
  again, once.
- Several threads may launch commands at once: sending a request is one message under a
  lock; each command then has a channel of its own.
- A process forked from agentcli (``os.fork``) forgets the parent's supervisor and
  closes its copies of the parent's sockets, so that they stay the parent's lifelines;
  its own first command starts its own supervisor.

Example:
    >>> read_end, write_end = os.pipe()
    >>> channel = launch(Request("/bin/bash", "true", Path("."), dict(os.environ), 1.0), write_end)
    >>> channel.pid  # the command supervisor: the command's session id
    4242
"""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SUPERVISOR = Path(__file__).with_name("supervisor.py")
_START_SECONDS = 5.0  # a supervisor that has not acknowledged a request by then is stuck
_LENGTH = struct.Struct("!I")  # the request's length prefix (the supervisor's too)
_NO_SIGPIPE = getattr(socket, "MSG_NOSIGNAL", 0)  # Python ignores SIGPIPE anyway; embedders may not
_LOADER_VARIABLES = ("LD_LIBRARY_PATH", "LD_PRELOAD", "DYLD_LIBRARY_PATH", "DYLD_FALLBACK_LIBRARY_PATH")


class SupervisorError(OSError):
    """The shell supervisor could not start a command, even a freshly started one."""


class _LostError(Exception):
    """The supervisor died or hung before it acknowledged a request."""


@dataclass(frozen=True)
class Request:
    """One command for the supervisor: ``shell -c command`` in ``cwd`` with exactly ``env``."""

    shell: str
    command: str
    cwd: Path
    env: Mapping[str, str]
    grace: float  # seconds between SIGTERM and SIGKILL on a timeout

    def encode(self) -> bytes:
        """The wire form: a length prefix, then NUL-separated fields (execve's own bytes)."""
        fields = [os.fsencode(self.shell), os.fsencode(self.command), os.fsencode(self.cwd),
                  repr(float(self.grace)).encode()]
        for name, value in self.env.items():
            key = os.fsencode(name)
            if not key or b"=" in key:
                raise ValueError(f"illegal environment variable name: {name!r}")
            fields.append(key + b"=" + os.fsencode(value))
        if any(b"\0" in field for field in fields):
            raise ValueError("embedded null byte")
        payload = b"\0".join(fields)
        return _LENGTH.pack(len(payload)) + payload


@dataclass(frozen=True)
class Report:
    """How the command supervisor saw the command end."""

    status: int  # the shell's exit status; 128+N when signal N ended it
    clean: bool  # nothing the command started is left running


class Channel:
    """agentcli's end of one command's channel; readable when the supervisor reports."""

    def __init__(self, sock: socket.socket, pid: int, pending: bytes):
        self._sock = sock
        self._buffer = pending
        self.pid = pid  # the command supervisor's, which is also the command's session id
        self.report: Report | None = None  # None until the end (and if it never came)
        self.finished = False  # the report came, or the command supervisor is gone
        self.server: subprocess.Popen[bytes] | None = None  # the supervisor that forked it
        self._parse()
        _channels.add(self)

    def fileno(self) -> int:
        """The socket's descriptor, for ``select``."""
        return self._sock.fileno()

    def read(self) -> None:
        """Take what the command supervisor wrote; call it when :meth:`fileno` is readable."""
        try:
            data = self._sock.recv(4096)
        except OSError:
            data = b""
        if not data:
            self.finished = True
        self._buffer += data
        self._parse()

    def timeout(self) -> None:
        """Ask for SIGTERM now, then SIGKILL after the request's grace."""
        try:
            self._sock.send(b"T", _NO_SIGPIPE)
        except OSError:  # already gone
            pass

    def stop(self) -> None:
        """SIGKILL the command's group at once (closing our side is the signal)."""
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        """Close the channel (which stops the command if it still runs)."""
        _channels.discard(self)
        self._sock.close()

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _parse(self) -> None:
        while b"\n" in self._buffer:
            line, _, self._buffer = self._buffer.partition(b"\n")
            if line.startswith(b"X"):
                status, clean = line[1:].split()
                self.report = Report(int(status), clean == b"1")
                self.finished = True


@dataclass
class _Server:
    process: subprocess.Popen[bytes]
    control: socket.socket


_lock = threading.Lock()
_server: _Server | None = None
_channels: set[Channel] = set()
_forsaken: list[subprocess.Popen[bytes]] = []  # a forked child's copy of its parent's server
_fork_hook_registered = False


def launch(request: Request, output: int) -> Channel:
    """Start ``request`` with its stdout and stderr on ``output``; its channel once it runs.

    Raises ``OSError`` when ``request.cwd`` cannot be entered (as ``subprocess`` would),
    ``ValueError`` for an environment ``execve`` refuses, and :class:`SupervisorError`
    when no supervisor would start the command.
    """
    message = request.encode()
    for _attempt in range(2):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with theirs:
                server = _send(theirs.fileno(), output)
            channel = _started(ours, message, request.cwd)
            channel.server = server.process
            return channel
        except _LostError:
            ours.close()
            _retire(server)
        except BaseException:
            ours.close()
            raise
    raise SupervisorError("the shell supervisor did not start the command")


def server_pid() -> int | None:
    """The running supervisor's pid, if one was started (for tests and diagnostics)."""
    with _lock:
        return None if _server is None else _server.process.pid


def orphaned(channel: Channel) -> bool:
    """Whether the supervisor that started ``channel``'s command has died: its command
    supervisor was then re-parented to agentcli, which must collect it."""
    return channel.server is not None and channel.server.poll() is not None


def spared(channel: Channel) -> set[int]:
    """Pids that a sweep after ``channel``'s command must leave alone: the supervisor,
    and the command supervisors of the other commands running now."""
    pid = server_pid()
    others = {other.pid for other in list(_channels) if other is not channel}
    return others | ({pid} if pid is not None else set())


def _send(channel_end: int, output: int) -> _Server:
    """Hand the two descriptors to the supervisor (starting one if none runs)."""
    global _server
    with _lock:
        for _attempt in range(2):
            server = _server = _server or _start()
            try:
                socket.send_fds(server.control, [b"C"], [channel_end, output], _NO_SIGPIPE)
                return server
            except OSError as exc:  # it is gone: start another, once
                _stop(server)
                _server, error = None, exc
        raise SupervisorError("the shell supervisor does not take commands") from error


def _started(ours: socket.socket, message: bytes, cwd: Path) -> Channel:
    """Send the request and wait for its acknowledgement: the command's channel."""
    buffer = b""
    try:
        ours.settimeout(_START_SECONDS)
        ours.sendall(message)
        while b"\n" not in buffer:
            chunk = ours.recv(4096)
            if not chunk:
                raise _LostError
            buffer += chunk
        ours.settimeout(None)
    except OSError as exc:  # the supervisor died, or hangs (a timeout)
        raise _LostError from exc
    line, _, rest = buffer.partition(b"\n")
    if line.startswith(b"E"):
        number, _, reason = line[1:].decode(errors="replace").partition(" ")
        raise OSError(int(number), reason, str(cwd))
    return Channel(ours, int(line[1:]), rest)


def _start() -> _Server:
    """Start a supervisor in a session of its own, with nothing of agentcli but its socket."""
    global _fork_hook_registered
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_forget_in_child)
        _fork_hook_registered = True
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    # Not agentcli's environment: a command can read its supervisor's /proc/PID/environ.
    # Python -I reads no variable; the dynamic loader may need its own to start it.
    env = {name: os.environ[name] for name in _LOADER_VARIABLES if name in os.environ}
    try:
        with theirs:
            process = subprocess.Popen(
                [sys.executable, "-I", "-S", str(SUPERVISOR)],
                stdin=theirs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=env, cwd="/", start_new_session=True,
            )
    except BaseException:
        ours.close()
        raise
    return _Server(process, ours)


def _retire(server: _Server) -> None:
    """Stop using ``server`` (dead or stuck) if it is still the current one."""
    global _server
    with _lock:
        if _server is server:
            _stop(server)
            _server = None


def _stop(server: _Server) -> None:
    """Close its lifeline; kill it if it still runs (it hangs); reap it."""
    server.control.close()
    if server.process.poll() is None:
        server.process.kill()
    server.process.wait()


def _forget_in_child() -> None:
    """After ``os.fork``, in the child: the parent's supervisor and channels are not ours."""
    global _lock, _server
    _lock = threading.Lock()  # another thread of the parent may have held it
    if _server is not None:
        _server.control.close()
        _forsaken.append(_server.process)  # never ours to wait for; kept so Popen does not warn
        _server = None
    for channel in list(_channels):
        channel.close()
