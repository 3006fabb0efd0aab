"""A rate gate shared by the model clients of one session: one 429 slows them all.

When an endpoint answers 429 with ``Retry-After``, the client that saw it waits before
its retry; so should every other agent talking to the same endpoint (the scouts of a
fan-out), instead of each hammering it until it meets its own 429. The gate holds the
time before which no attempt may start; every client waits for it before each attempt.

Example:
    >>> gate = RateGate()
    >>> gate.hold(2.0)            # a 429 said "Retry-After: 2"
    >>> gate.wait(CancelToken())  # returns about 2 s later (at once once it has passed)
"""

from __future__ import annotations

import threading
import time

from agentcli.agent.cancel import CancelToken


class RateGate:
    """The earliest moment the next model attempt may start, shared across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0  # time.monotonic() before which nobody sends

    def hold(self, seconds: float) -> None:
        """Keep every client from sending for ``seconds`` from now (never shortens a hold)."""
        with self._lock:
            self._until = max(self._until, time.monotonic() + max(0.0, seconds))

    def remaining(self) -> float:
        """Seconds left before attempts may start again (0 when open)."""
        with self._lock:
            return max(0.0, self._until - time.monotonic())

    def wait(self, cancel: CancelToken) -> None:
        """Sleep until the gate opens; a cancel cuts the wait short (``Cancelled``)."""
        while (left := self.remaining()) > 0:
            cancel.sleep(left)
