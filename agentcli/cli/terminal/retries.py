"""A model call being retried, told in one line updated in place, not a line per attempt.

While the orchestrator's model call waits to be tried again, the spinner line of the
live area says ``retrying in 3 s, attempt 2 of 6`` (counting down) and the line under it
why the last attempt failed. When an attempt answers, one line stays in the scrollback
saying how many had failed; when the call fails for good, the error line says it all.

Example:
    >>> line = RetryLine()
    >>> line.failed({"attempt": 1, "attempts": 6, "wait_s": 3, "reason": "HTTP 503: busy"})
    >>> line.lines(now)
    ['retrying in 3 s, attempt 2 of 6', 'the last attempt failed: HTTP 503: busy']
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from agentcli.cli.render.text import clean


@dataclass
class _Waiting:
    attempt: int  # the attempt to come, from 1 for the first of all
    attempts: int | None  # how many this failure gets in all
    reason: str
    until: float  # when the next attempt goes (monotonic)


class RetryLine:
    """The retry state of one agent's model call (thread-safe: events write, the prompt reads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: _Waiting | None = None

    def failed(self, data: dict[str, Any]) -> None:
        """A ``model.retry`` event: an attempt failed and another will go after ``wait_s``."""
        wait = data.get("wait_s")
        seconds = float(wait) if isinstance(wait, (int, float)) else 0.0
        attempts = data.get("attempts")
        with self._lock:
            self._waiting = _Waiting(int(data.get("attempt") or 1) + 1,
                                     int(attempts) if isinstance(attempts, int) else None,
                                     " ".join(clean(str(data.get("reason") or "it failed")).split()),
                                     time.monotonic() + seconds)

    def lines(self, now: float | None = None) -> list[str]:
        """What the live area says of the retry now (nothing when no call is being retried)."""
        with self._lock:
            waiting = self._waiting
        if waiting is None:
            return []
        left = waiting.until - (now or time.monotonic())
        of = f" of {waiting.attempts}" if waiting.attempts else ""
        head = (f"retrying in {max(left, 0):.0f} s, attempt {waiting.attempt}{of}" if left > 0.5
                else f"trying again: attempt {waiting.attempt}{of}")
        return [head, f"the last attempt failed: {waiting.reason}"]

    def answered(self) -> str | None:
        """An answer came: the one line the scrollback keeps of the retries (None: none were made)."""
        with self._lock:
            waiting, self._waiting = self._waiting, None
        if waiting is None:
            return None
        failed = waiting.attempt - 1
        return f"(answered on attempt {waiting.attempt}; {failed} failed before it: {waiting.reason})"

    def ended(self) -> None:
        """The call failed for good or the turn stopped: its error line, if any, says why."""
        with self._lock:
            self._waiting = None


__all__ = ["RetryLine"]
