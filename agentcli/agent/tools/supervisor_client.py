"""agentcli's end of a shell supervisor: started on its first command, shared by threads.

The supervisor (``supervisor.py``, run as a script) forks a command supervisor for each
command, which costs a fork instead of a Python start-up::

    launch() ──send_fds(channel end, output pipe)──▶ supervisor ──fork──▶ command supervisor
                                                                                │ fork, exec
    Channel ◀──── S<pid> … X<status> <clean> ──── channel ──────────────────▶ bash -c COMMAND

Only agentcli holds its ends of the control socket and of each channel, so its death,
even by SIGKILL, ends the supervisor and every command (see the supervisor module).

A :class:`Supervisor` is either unconfined (the process-wide default that
:func:`launch` uses) or runs *inside a sandbox*: its command line is wrapped (``bwrap
... -- python supervisor.py``), so every command it forks is confined, still at the cost
of a fork. A sandboxed supervisor says it is ready before it takes commands, and its
pids are pid-namespace pids: agentcli reads the host pids from the kernel instead
(``SO_PASSCRED``: a sender's pid arrives translated into the receiver's namespace),
and sweeps a sandbox by its namespace (:func:`.reaper.sweep_namespace`).

- If a supervisor is gone (a command killed it, say), its next :meth:`Supervisor.launch`
  starts a new one; a request that was never acknowledged with ``S`` (so nothing ran) is
  sent again, once.
- Several threads may launch commands at once: sending a request is one message under a
  lock; each command then has a channel of its own.
- A process forked from agentcli (``os.fork``) forgets the parent's supervisors and
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
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agentcli.agent.tools.spawner import spawn_lasting

SUPERVISOR = Path(__file__).with_name("supervisor.py")
_START_SECONDS = 5.0  # a supervisor that has not acknowledged a request by then is stuck
_READY_SECONDS = 20.0  # a sandbox that has not started its supervisor by then failed to start
_LENGTH = struct.Struct("!I")  # the request's length prefix (the supervisor's too)
_UCRED = struct.Struct("iII")  # SCM_CREDENTIALS: pid, uid, gid
_CREDENTIALS = socket.CMSG_SPACE(_UCRED.size)
_NO_SIGPIPE = getattr(socket, "MSG_NOSIGNAL", 0)  # Python ignores SIGPIPE anyway; embedders may not
_LOADER_VARIABLES = ("LD_LIBRARY_PATH", "LD_PRELOAD", "DYLD_LIBRARY_PATH", "DYLD_FALLBACK_LIBRARY_PATH")

Wrapper = Callable[[list[str]], list[str]]
"""Turns the supervisor's command line into the sandbox's that runs it."""


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


@dataclass
class _Server:
    process: subprocess.Popen[bytes]
    control: socket.socket
    inner: int | None = None  # a sandboxed supervisor's own host pid (the Popen is the sandbox's)
    namespace: str | None = None  # the sandbox's pid namespace, as /proc/PID/ns/pid names it


class Channel:
    """agentcli's end of one command's channel; readable when the supervisor reports."""

    def __init__(self, sock: socket.socket, pid: int, pending: bytes, via: _Server, owner: Supervisor):
        self._sock = sock
        self._buffer = pending
        self.pid = pid  # the command supervisor's host pid, which is also the command's session id
        self.report: Report | None = None  # None until the end (and if it never came)
        self.finished = False  # the report came, or the command supervisor is gone
        self.server: subprocess.Popen[bytes] = via.process  # the supervisor (or sandbox) that forked it
        self.via = via
        self.owner = owner
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


class Supervisor:
    """One long-lived shell supervisor, started by its first command.

    ``wrap`` None: unconfined (one per process, :func:`default`). Otherwise the
    supervisor runs inside the sandbox ``wrap`` builds, which lives until :meth:`close`
    (or agentcli's death): what it keeps between commands (a private ``/tmp``) with it.
    """

    def __init__(self, wrap: Wrapper | None = None):
        self.wrap = wrap
        self._lock = threading.Lock()
        self._server: _Server | None = None
        _supervisors.add(self)

    @property
    def sandboxed(self) -> bool:
        """Whether the commands run inside a sandbox."""
        return self.wrap is not None

    def pid(self) -> int | None:
        """The running supervisor's pid (a sandbox's: the sandbox process), if one was started."""
        with self._lock:
            return None if self._server is None else self._server.process.pid

    def launch(self, request: Request, output: int) -> Channel:
        """Start ``request`` with its stdout and stderr on ``output``; its channel once it runs.

        Raises ``OSError`` when ``request.cwd`` cannot be entered (as ``subprocess`` would),
        ``ValueError`` for an environment ``execve`` refuses, and :class:`SupervisorError`
        when no supervisor would start the command (a sandbox that does not start says why).
        """
        message = request.encode()
        for _attempt in range(2):
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                if self.sandboxed:  # the command supervisor's host pid comes with its first line
                    ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
                with theirs:
                    server = self._send(theirs.fileno(), output)
                return self._started(ours, message, request.cwd, server)
            except _LostError:
                ours.close()
                self._retire(server)
            except BaseException:
                ours.close()
                raise
        raise SupervisorError("the shell supervisor did not start the command")

    def close(self) -> None:
        """End the supervisor, and with it the sandbox and every command still running in it."""
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            _stop(server, grace=2.0)

    def sweep(self, channel: Channel, started: float) -> None:
        """Kill what ``channel``'s command left running, when its supervisor could not say
        that nothing was left: by the sandbox's namespace, or by session and mark."""
        from agentcli.agent.tools import reaper

        if channel.via.namespace is not None and channel.via.inner is not None:
            reaper.sweep_namespace(channel.via.namespace, channel.via.inner, channel.pid)
        else:
            reaper.sweep(channel.pid, started, spare=spared(channel))

    def _send(self, channel_end: int, output: int) -> _Server:
        """Hand the two descriptors to the supervisor (starting one if none runs)."""
        with self._lock:
            for _attempt in range(2):
                server = self._server = self._server or self._start()
                try:
                    socket.send_fds(server.control, [b"C"], [channel_end, output], _NO_SIGPIPE)
                    return server
                except OSError as exc:  # it is gone: start another, once
                    _stop(server)
                    self._server, error = None, exc
            raise SupervisorError("the shell supervisor does not take commands") from error

    def _started(self, ours: socket.socket, message: bytes, cwd: Path, server: _Server) -> Channel:
        """Send the request and wait for its acknowledgement: the command's channel."""
        buffer, sender = b"", None
        try:
            ours.settimeout(_START_SECONDS)
            ours.sendall(message)
            while b"\n" not in buffer:
                chunk, ancillary, _flags, _address = ours.recvmsg(4096, _CREDENTIALS)
                if not chunk:
                    raise _LostError
                buffer += chunk
                sender = sender or _sender_pid(ancillary)
            ours.settimeout(None)
        except OSError as exc:  # the supervisor died, or hangs (a timeout)
            raise _LostError from exc
        line, _, rest = buffer.partition(b"\n")
        if line.startswith(b"E"):
            number, _, reason = line[1:].decode(errors="replace").partition(" ")
            raise OSError(int(number), reason, str(cwd))
        return Channel(ours, sender or int(line[1:]), rest, server, self)

    def _start(self) -> _Server:
        """Start a supervisor in a session of its own, with nothing of agentcli but its socket."""
        _register_fork_hook()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # Not agentcli's environment: a command can read its supervisor's /proc/PID/environ.
        # Python -I reads no variable; the dynamic loader may need its own to start it.
        env = {name: os.environ[name] for name in _LOADER_VARIABLES if name in os.environ}
        try:
            with theirs:
                if self.wrap is None:
                    process = subprocess.Popen(
                        [sys.executable, "-I", "-S", str(SUPERVISOR)],
                        stdin=theirs, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                        env=env, cwd="/", start_new_session=True,
                    )
                    return _Server(process, ours)
                return self._start_sandboxed(ours, theirs, env)
        except BaseException:
            ours.close()
            raise

    def _start_sandboxed(self, ours: socket.socket, theirs: socket.socket, env: dict[str, str]) -> _Server:
        """Start the sandbox around a supervisor and wait until the supervisor says it is ready."""
        import tempfile

        assert self.wrap is not None
        # The real interpreter: a virtual environment's link may live where the sandbox hides.
        python = os.path.realpath(sys.executable)
        argv = self.wrap([python, "-I", "-S", str(SUPERVISOR), "--ready"])
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        with tempfile.TemporaryFile() as errors:
            # started from a thread that lives as long as agentcli: the sandbox dies with it
            process = spawn_lasting(argv, stdin=theirs, stdout=subprocess.DEVNULL, stderr=errors,
                                    env=env, cwd="/", start_new_session=True)
            theirs.close()
            try:
                ours.settimeout(_READY_SECONDS)
                ready, ancillary, _flags, _address = ours.recvmsg(1, _CREDENTIALS)
                ours.settimeout(None)
            except OSError:
                ready, ancillary = b"", []
            if ready != b"R":
                _stop(_Server(process, ours))
                errors.seek(0)
                said = errors.read().decode(errors="replace").strip().splitlines()
                raise SupervisorError("the sandbox did not start"
                                      + (f": {said[-1]}" if said else f" (exit status {process.returncode})"))
        inner = _sender_pid(ancillary)
        try:
            namespace = os.readlink(f"/proc/{inner}/ns/pid") if inner else None
        except OSError:
            namespace = None
        return _Server(process, ours, inner, namespace)

    def _retire(self, server: _Server) -> None:
        """Stop using ``server`` (dead or stuck) if it is still the current one."""
        with self._lock:
            if self._server is server:
                _stop(server)
                self._server = None

    def _forget_in_child(self) -> None:
        """After ``os.fork``, in the child: the parent's supervisor is not ours."""
        self._lock = threading.Lock()  # another thread of the parent may have held it
        if self._server is not None:
            self._server.control.close()
            _forsaken.append(self._server.process)  # never ours to wait for; kept so Popen does not warn
            self._server = None


_channels: set[Channel] = set()
_supervisors: weakref.WeakSet[Supervisor] = weakref.WeakSet()
_forsaken: list[subprocess.Popen[bytes]] = []  # a forked child's copy of its parent's server
_fork_hook_registered = False
_default: Supervisor | None = None
_default_lock = threading.Lock()


def default() -> Supervisor:
    """The process's unconfined supervisor (``--sandbox off``, and code that asks for none)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Supervisor()
        return _default


def launch(request: Request, output: int) -> Channel:
    """:meth:`Supervisor.launch` on the unconfined :func:`default` supervisor."""
    return default().launch(request, output)


def server_pid() -> int | None:
    """The unconfined supervisor's pid, if one was started (for tests and diagnostics)."""
    return default().pid()


def orphaned(channel: Channel) -> bool:
    """Whether the supervisor that started ``channel``'s command has died: its command
    supervisor was then re-parented to agentcli, which must collect it."""
    return channel.server.poll() is not None


def spared(channel: Channel) -> set[int]:
    """Pids that a sweep after ``channel``'s command must leave alone: every supervisor
    and sandbox, and the command supervisors of the other commands running now."""
    servers = {pid for supervisor in list(_supervisors) if (pid := supervisor.pid()) is not None}
    return servers | {other.pid for other in list(_channels) if other is not channel}


def _sender_pid(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    """The sender's pid in SCM_CREDENTIALS (in our pid namespace), if the kernel gave it."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == getattr(socket, "SCM_CREDENTIALS", -1):
            return _UCRED.unpack(data[:_UCRED.size])[0] or None
    return None


def _stop(server: _Server, grace: float = 0.0) -> None:
    """Close its lifeline; kill it if it still runs (after ``grace`` seconds); reap it."""
    server.control.close()
    if grace and server.process.poll() is None:
        try:
            server.process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    if server.process.poll() is None:
        server.process.kill()
    server.process.wait()


def _register_fork_hook() -> None:
    global _fork_hook_registered
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_forget_in_child)
        _fork_hook_registered = True


def _forget_in_child() -> None:
    """After ``os.fork``, in the child: the parent's supervisors and channels are not ours."""
    global _default_lock
    _default_lock = threading.Lock()
    for supervisor in list(_supervisors):
        supervisor._forget_in_child()
    for channel in list(_channels):
        channel.close()
