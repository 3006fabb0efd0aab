"""Signals become operations: a handler only submits one to the engine (and wakes the client).

The engine's ``submit`` puts the operation on a queue that is safe to use from a signal
handler, so a SIGTERM is taken at once whatever the main thread is doing: waiting for a
turn, showing a question, reading the idle prompt.

Example:
    >>> with signals_to(lambda name: engine.submit(Shutdown(name))):
    ...     run_the_client()
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOPPING = (signal.SIGTERM, signal.SIGHUP)
"""The signals that end a run, saved and resumable (exit 130)."""


@contextmanager
def signals_to(handler: Callable[[str], None],
               signals: tuple[signal.Signals, ...] = STOPPING) -> Iterator[None]:
    """While inside, each of ``signals`` calls ``handler`` with the signal's name
    (``SIGTERM``...) instead of its default action; the previous handlers come back after."""

    def received(signum: int, frame: object) -> None:
        handler(signal.Signals(signum).name)

    import threading

    if threading.current_thread() is not threading.main_thread():  # only the main thread has signals
        yield
        return
    previous = {sig: signal.signal(sig, received) for sig in signals}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
