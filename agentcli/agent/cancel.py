"""Cancellation as a value: a token the interface sets and the agent checks.

The loop checks it between steps, the model stream between chunks, the shell pump in
its ``select`` (through :meth:`CancelToken.fileno`, which becomes readable the moment
the token is set), and every wait (retry back-off, an approval question) wakes on it.
Signals only set the token, so an agent can run on any thread and be stopped from the
interface: nothing relies on ``KeyboardInterrupt`` reaching the right frame.

Example:
    >>> token = CancelToken()
    >>> token.cancel("Ctrl-C")
    >>> token.check()
    Traceback (most recent call last):
    Cancelled: Ctrl-C
"""

from __future__ import annotations

import os
import threading


class Cancelled(Exception):  # noqa: N818 - a flow exception, like mini-swe-agent's
    """Raised where work notices its token was set; ``str(err)`` says why."""


class CancelToken:
    """A one-way switch, safe to set from any thread or a signal handler."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        self.resumable = True  # a stopped turn is taken up again by resume (False: Ctrl-C in a REPL)
        self._pipe: tuple[int, int] | None = None
        self._lock = threading.Lock()

    @property
    def cancelled(self) -> bool:
        """True once :meth:`cancel` was called."""
        return self._event.is_set()

    def cancel(self, reason: str = "stopped", *, resumable: bool = True) -> None:
        """Set the token (idempotent; the first reason is kept) and wake every waiter.

        ``resumable`` False says the person chose to drop the turn (Ctrl-C at a
        terminal): it is recorded ``cancelled`` and not taken up again.
        """
        if self._event.is_set():
            return
        self.reason = reason
        self.resumable = resumable
        self._event.set()
        pipe = self._pipe
        if pipe is not None:
            try:
                os.write(pipe[1], b"x")
            except OSError:  # already closed, or full: readable either way
                pass

    def check(self) -> None:
        """Raise :class:`Cancelled` when the token is set."""
        if self._event.is_set():
            raise Cancelled(self.reason or "stopped")

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early when cancelled; True if cancelled."""
        return self._event.wait(max(0.0, seconds))

    def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` unless cancelled first, then raise :class:`Cancelled`."""
        if self._event.wait(max(0.0, seconds)):
            self.check()

    def fileno(self) -> int:
        """A descriptor that becomes readable once the token is set (for ``select``)."""
        with self._lock:
            if self._pipe is None:
                read_end, write_end = os.pipe()
                os.set_blocking(write_end, False)
                os.set_inheritable(read_end, False)
                os.set_inheritable(write_end, False)
                self._pipe = (read_end, write_end)
                if self._event.is_set():
                    os.write(write_end, b"x")
            return self._pipe[0]

    def close(self) -> None:
        """Release the wake-up pipe, if one was made."""
        with self._lock:
            if self._pipe is not None:
                for fd in self._pipe:
                    os.close(fd)
                self._pipe = None

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass


NEVER = CancelToken()
"""A token nobody sets: the default for work run outside an interface (tests, tools)."""
