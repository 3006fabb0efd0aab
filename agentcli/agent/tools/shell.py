"""Running a shell command so that it can never outlive agentcli.

One supervisor per agentcli process (``supervisor.py``, started on the first command;
its client is :mod:`.supervisor_client`) forks a command supervisor for each command::

    agentcli ──control socket──▶ supervisor ──fork──▶ command supervisor ──fork──▶ bash -c COMMAND
      ▲  │                                             ▲   (own session, subreaper)      │
      │  └── channel: T = timeout, EOF = kill ─────────┘                                 │
      │      (back: S<pid> started, X<status> <clean> done)                              │
      └───────────────────────── output pipe (stdout and stderr) ────────────────────────┘

The commands run in sessions of their own, so a Ctrl-C or a hangup aimed at agentcli's
terminal reaches none of them. agentcli holds the only other ends of the control socket
and of every channel: whenever agentcli dies — even by SIGKILL — the kernel closes them
and each command supervisor SIGKILLs its command's whole process group. On a timeout
agentcli writes ``T`` and the command supervisor sends SIGTERM, then SIGKILL after a
grace. When bash exits, whatever it left running (``server &``, ``setsid`` daemons) is
ended too, and the command supervisor reports bash's status and whether anything is
left. Only when something may be (it was killed, or could not tell) does agentcli sweep
``/proc`` itself (:mod:`.reaper`).
"""

from __future__ import annotations

import codecs
import os
import selectors
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agentcli.agent.cancel import NEVER, CancelToken
from agentcli.agent.tools import reaper
from agentcli.agent.tools.supervisor_client import Channel, Request, Supervisor, default, orphaned

_POLL_SECONDS = 0.1
_STRAY_WRITER_SECONDS = 0.25  # output still open after the command supervisor finished: stop reading
_SUPERVISOR_STUCK_SECONDS = 5.0
_VANISHED_STATUS = 128 + signal.SIGKILL  # the command supervisor died without a report: killed


@dataclass(frozen=True)
class ShellResult:
    """What a command did: its exit code (``None`` when it was stopped), output, timings."""

    exit_code: int | None
    output: str
    timed_out: bool
    duration_ms: int
    truncated: bool


def run_command(
    command: str,
    cwd: Path,
    *,
    timeout: float,
    max_output_chars: int = 30000,
    env: Mapping[str, str] | None = None,
    kill_grace: float = 1.0,
    cancel: CancelToken = NEVER,
    on_output: Callable[[str], None] | None = None,
    supervisor: Supervisor | None = None,
) -> ShellResult:
    """Run ``command`` with ``bash -c`` (``sh -c`` without bash) in ``cwd``.

    stdin is ``/dev/null``; stdout and stderr are merged in order; the environment is
    exactly ``env`` (agentcli's own when ``None``). A non-zero exit is a normal result.
    Past ``timeout`` seconds the command's process group gets SIGTERM, then SIGKILL
    after ``kill_grace`` seconds, and ``timed_out`` is set. The output keeps its head
    and tail within ``max_output_chars``. When ``cancel`` is set, the process group is
    killed at once and ``Cancelled`` raised; on KeyboardInterrupt (or any exception)
    likewise, the exception re-raised. ``on_output``, when given, is called with each
    piece of output as it arrives (for a live view; the result keeps it all). Safe to
    call from several threads at once. ``supervisor`` runs it (a sandboxed one confines
    it); by default, the process's unconfined supervisor.

    Example:
        >>> run_command("echo hi; exit 3", Path("."), timeout=10).exit_code
        3
    """
    cancel.check()
    started = time.monotonic()
    reaper.become_subreaper()  # what a killed command supervisor orphans comes back to us
    request = Request(_shell(), command, cwd, dict(os.environ if env is None else env), kill_grace)
    read_end, write_end = os.pipe()
    try:
        try:
            channel = (supervisor or default()).launch(request, write_end)
        finally:
            os.close(write_end)  # the command holds the only write ends: EOF means "done"
        with channel:
            capture = OutputCapture(max_output_chars)
            try:
                timed_out = _pump(channel, read_end, capture, deadline=started + timeout,
                                  grace=kill_grace, cancel=cancel, on_output=on_output)
            except BaseException:
                _abandon(channel, started)
                raise
            _sweep_unless_clean(channel, started)
    finally:
        os.close(read_end)
    # its supervisor died meanwhile: the command supervisor was re-parented to us
    reaper.collect([channel.pid] if orphaned(channel) else [])
    output, truncated = capture.result()
    report = channel.report
    return ShellResult(
        exit_code=None if timed_out else report.status if report else _VANISHED_STATUS,
        output=output,
        timed_out=timed_out,
        duration_ms=int((time.monotonic() - started) * 1000),
        truncated=truncated,
    )


def _shell() -> str:
    return shutil.which("bash") or "/bin/sh"


def _pump(channel: Channel, fd: int, capture: OutputCapture, *, deadline: float, grace: float,
          cancel: CancelToken, on_output: Callable[[str], None] | None = None) -> bool:
    """Read the output until the command is done; enforce the deadline. True if timed out.

    Raises ``Cancelled`` as soon as ``cancel`` is set (its descriptor wakes the select);
    the caller then stops the channel, which makes the command supervisor SIGKILL the group.
    """
    timed_out, eof = False, False
    live = codecs.getincrementaldecoder("utf-8")(errors="replace")  # for on_output only
    kill_at: float | None = None  # when to escalate to SIGKILL ourselves
    done_at: float | None = None  # when the command supervisor was first seen finished
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        selector.register(channel.fileno(), selectors.EVENT_READ)
        selector.register(cancel.fileno(), selectors.EVENT_READ)
        while True:
            cancel.check()
            now = time.monotonic()
            if not timed_out and now >= deadline:
                timed_out = True
                channel.timeout()
                kill_at = now + grace + 1.0
            if kill_at is not None and now >= kill_at:
                channel.stop()  # the command supervisor SIGKILLs the group at once
                if now >= kill_at + _SUPERVISOR_STUCK_SECONDS:
                    return timed_out  # no report: the caller sweeps
            if channel.finished:
                done_at = done_at or now
                if eof or now - done_at >= _STRAY_WRITER_SECONDS:
                    return timed_out
            wait = _POLL_SECONDS if timed_out else min(_POLL_SECONDS, max(0.0, deadline - now))
            for key, _events in selector.select(wait):
                if key.fd == channel.fileno():
                    channel.read()
                    if channel.finished:
                        selector.unregister(key.fd)  # at EOF it would wake the select for ever
                elif key.fd == fd:
                    chunk = os.read(fd, 65536)
                    if chunk:
                        capture.feed(chunk)
                        if on_output is not None:
                            on_output(live.decode(chunk))
                    else:
                        eof = True
                        selector.unregister(fd)
                else:
                    cancel.check()  # the token's descriptor: it is set


def _abandon(channel: Channel, started: float) -> None:
    """Kill the command now and wait (briefly) for its supervisor to say it is done."""
    channel.stop()
    with selectors.DefaultSelector() as selector:
        selector.register(channel.fileno(), selectors.EVENT_READ)
        until = time.monotonic() + _SUPERVISOR_STUCK_SECONDS
        while not channel.finished and selector.select(max(0.0, until - time.monotonic())):
            channel.read()
    _sweep_unless_clean(channel, started)


def _sweep_unless_clean(channel: Channel, started: float) -> None:
    """Sweep /proc for what the command left, unless its supervisor saw nothing left."""
    if channel.report is None or not channel.report.clean:
        channel.owner.sweep(channel, started)


class OutputCapture:
    """Decoded output kept within a budget: the first half and the last half of it."""

    def __init__(self, max_chars: int):
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._head_limit = max(max_chars, 0) // 2
        self._tail_limit = max(max_chars, 0) - self._head_limit
        self._head: list[str] = []
        self._head_size = 0
        self._tail = ""
        self.total_chars = 0

    def feed(self, data: bytes, *, final: bool = False) -> None:
        """Take more bytes of output."""
        text = self._decoder.decode(data, final)
        self.total_chars += len(text)
        room = self._head_limit - self._head_size
        if room > 0 and text:
            self._head.append(text[:room])
            self._head_size += len(text[:room])
            text = text[room:]
        if text:
            self._tail += text
            if len(self._tail) > 2 * self._tail_limit:
                self._tail = self._tail[len(self._tail) - self._tail_limit :]

    def result(self) -> tuple[str, bool]:
        """The output, with a marker where characters were left out; and whether any were."""
        self.feed(b"", final=True)
        head = "".join(self._head)
        tail = self._tail[len(self._tail) - self._tail_limit :] if self._tail_limit else ""
        omitted = self.total_chars - len(head) - len(tail)
        if omitted <= 0:
            return head + tail, False
        return f"{head}\n[... {omitted} characters omitted ...]\n{tail}", True
