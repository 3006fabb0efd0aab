"""The one stream of events the agent emits; every interface is fed from it.

An event is a type (``turn.started``, ``tool.finished``...) and a JSON-able dict.
The JSON writer prints them one a line; the terminal renderer draws them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One thing that happened, e.g. ``Event("tool.started", {"name": "read_file"})``."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The event as one JSON object: ``{"type": ..., **data}``."""
        return {"type": self.type, **self.data}


EventSink = Callable[[Event], None]


def serialized(sink: EventSink) -> EventSink:
    """A sink several agents (threads) may call at once: one event is written at a time."""
    lock = threading.Lock()

    def emit(event: Event) -> None:
        with lock:
            sink(event)

    return emit
