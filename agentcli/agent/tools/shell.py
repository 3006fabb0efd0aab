"""Running a shell command so that it can never outlive agentcli.

A tiny supervisor (``agentcli/agent/tools/supervisor.py``, run as ``python -I -S``) sits
between agentcli and the command::

    agentcli ──lifeline pipe──▶ supervisor ──fork, setsid──▶ bash -c COMMAND (+ children)
        ▲                                                        │
        └──────────────── output pipe (stdout and stderr) ───────┘

The supervisor and the command each run in a session of their own, so a Ctrl-C or a
hangup aimed at agentcli's terminal reaches neither. agentcli holds the only write end
of the lifeline: whenever agentcli dies — even by SIGKILL — the kernel closes it, the
supervisor reads EOF and SIGKILLs the command's whole process group. On a timeout
agentcli writes ``T`` and the supervisor sends SIGTERM, then SIGKILL after a grace.
When bash exits, whatever it left running (``server &``) is ended too, and the
supervisor exits with bash's status. See the supervisor module for the details.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import selectors
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from agentcli.agent.cancel import NEVER, CancelToken
from agentcli.agent.tools import reaper

SUPERVISOR = Path(__file__).with_name("supervisor.py")
_POLL_SECONDS = 0.1
_STRAY_WRITER_SECONDS = 0.25  # output still open after the supervisor exited: stop reading
_SUPERVISOR_STUCK_SECONDS = 5.0


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
) -> ShellResult:
    """Run ``command`` with ``bash -c`` (``sh -c`` without bash) in ``cwd``.

    stdin is ``/dev/null``; stdout and stderr are merged in order. A non-zero exit is a
    normal result. Past ``timeout`` seconds the command's process group gets SIGTERM,
    then SIGKILL after ``kill_grace`` seconds, and ``timed_out`` is set. The output
    keeps its head and tail within ``max_output_chars``. When ``cancel`` is set, the
    process group is killed at once and ``Cancelled`` raised; on KeyboardInterrupt (or
    any exception) likewise, the exception re-raised. ``on_output``, when given, is called
    with each piece of output as it arrives (for a live view; the result keeps it all).

    Example:
        >>> run_command("echo hi; exit 3", Path("."), timeout=10).exit_code
        3
    """
    cancel.check()
    started = time.monotonic()
    argv = [sys.executable, "-I", "-S", str(SUPERVISOR), _shell(), command, str(kill_grace)]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env=None if env is None else dict(env),
        start_new_session=True,
    )
    capture = OutputCapture(max_output_chars)
    try:
        timed_out = _pump(proc, capture, deadline=started + timeout, grace=kill_grace,
                          cancel=cancel, on_output=on_output)
    except BaseException:
        _abandon(proc)
        raise
    finally:
        assert proc.stdout is not None
        proc.stdout.close()
    _close_lifeline(proc)
    code = proc.wait()
    reaper.sweep(proc.pid, started)  # what the command left, even if it killed the supervisor
    output, truncated = capture.result()
    return ShellResult(
        exit_code=None if timed_out else code,
        output=output,
        timed_out=timed_out,
        duration_ms=int((time.monotonic() - started) * 1000),
        truncated=truncated,
    )


def _shell() -> str:
    return shutil.which("bash") or "/bin/sh"


def _pump(proc: subprocess.Popen[bytes], capture: OutputCapture, *, deadline: float,
          grace: float, cancel: CancelToken, on_output: Callable[[str], None] | None = None) -> bool:
    """Read the output until the command is done; enforce the deadline. True if timed out.

    Raises ``Cancelled`` as soon as ``cancel`` is set (its descriptor wakes the select);
    the caller then closes the lifeline, which makes the supervisor SIGKILL the group.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    timed_out, eof = False, False
    live = codecs.getincrementaldecoder("utf-8")(errors="replace")  # for on_output only
    kill_at: float | None = None  # when to escalate to SIGKILL ourselves
    gone_at: float | None = None  # when the supervisor was first seen exited
    exited = _exit_descriptor(proc)  # readable once the supervisor exits: no sleep-polling
    with contextlib.ExitStack() as stack, selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        selector.register(cancel.fileno(), selectors.EVENT_READ)
        if exited is not None:
            stack.callback(os.close, exited)
            selector.register(exited, selectors.EVENT_READ)
        while True:
            cancel.check()
            now = time.monotonic()
            if not timed_out and now >= deadline:
                timed_out = True
                _send(proc, b"T")
                kill_at = now + grace + 1.0
            if kill_at is not None and now >= kill_at:
                _close_lifeline(proc)  # the supervisor SIGKILLs the group at once
                if now >= kill_at + _SUPERVISOR_STUCK_SECONDS:
                    proc.kill()
                    return timed_out
            if proc.poll() is not None:
                gone_at = gone_at or now
                if eof or now - gone_at >= _STRAY_WRITER_SECONDS:
                    return timed_out
            wait = _POLL_SECONDS if timed_out else min(_POLL_SECONDS, max(0.0, deadline - now))
            if eof and exited is None:
                time.sleep(min(wait, 0.01))
                continue
            for key, _events in selector.select(wait):
                if key.fd == exited:
                    selector.unregister(exited)  # seen: proc.poll() now answers at once
                    continue
                if key.fd != fd:
                    cancel.check()  # the token's descriptor: it is set
                    continue
                chunk = os.read(fd, 65536)
                if chunk:
                    capture.feed(chunk)
                    if on_output is not None:
                        on_output(live.decode(chunk))
                else:
                    eof = True
                    selector.unregister(fd)  # at EOF it would wake the select for ever


def _exit_descriptor(proc: subprocess.Popen[bytes]) -> int | None:
    """A pidfd of ``proc`` (Linux 5.3+): it becomes readable when the process exits."""
    opener = getattr(os, "pidfd_open", None)
    if opener is None:
        return None
    try:
        return opener(proc.pid)
    except OSError:  # an older kernel, or the process is already reaped
        return None


def _send(proc: subprocess.Popen[bytes], message: bytes) -> None:
    try:
        assert proc.stdin is not None
        proc.stdin.write(message)
        proc.stdin.flush()
    except (OSError, ValueError):  # supervisor already gone, or lifeline already closed
        pass


def _close_lifeline(proc: subprocess.Popen[bytes]) -> None:
    try:
        assert proc.stdin is not None
        proc.stdin.close()
    except OSError:
        pass


def _abandon(proc: subprocess.Popen[bytes]) -> None:
    """Kill the command now (the supervisor does it on EOF) and reap the supervisor."""
    _close_lifeline(proc)
    try:
        proc.wait(timeout=_SUPERVISOR_STUCK_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
