"""``show --follow``: tail a session that another process is driving.

The follower is a WAL reader: it never takes the writer lock, and each poll sees
every step the writer has committed. It stops when nobody holds the session's lock
any more and its status is no longer ``running`` (or stays ``running`` with no
holder: the process died and left it for ``agentcli resume``), or on Ctrl-C.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agentcli.cli.render.session_view import SessionView
from agentcli.cli.render.show import ShowRenderer
from agentcli.session.records import ToolCallRecord
from agentcli.session.session import Session
from agentcli.store.durable import lock_path
from agentcli.store.lock import is_locked

POLL_SECONDS = 0.5
STALE_POLLS = 3  # polls with status 'running' but no lock holder before giving up


@dataclass
class Tail:
    """How far the follower has shown the session."""

    last_message_id: int = 0
    last_call_id: int = 0
    open_calls: set[int] = field(default_factory=set)
    known_call_ids: set[str] = field(default_factory=set)

    @classmethod
    def after(cls, view: SessionView) -> Tail:
        """The position right after everything ``view`` already showed."""
        tail = cls(last_message_id=max((m.id for m in view.messages), default=0))
        tail.see(view.tool_calls)
        return tail

    def see(self, calls: list[ToolCallRecord]) -> None:
        """Remember calls as shown; those still running are polled again."""
        for call in calls:
            self.last_call_id = max(self.last_call_id, call.id)
            self.known_call_ids.add(call.call_id)
            if call.status == "running":
                self.open_calls.add(call.id)
            else:
                self.open_calls.discard(call.id)


def follow(
    session: Session,
    renderer: ShowRenderer,
    tail: Tail,
    *,
    interval: float = POLL_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Print what the writer commits until the session stops; Ctrl-C ends quietly."""
    stale = 0
    try:
        renderer.note(f"following session {session.id} (Ctrl-C to stop)")
        while True:
            # Read the state before the rows, so rows committed before the writer
            # let go are drawn before we stop.
            locked = is_locked(lock_path(session.path))
            status = session.meta().status
            poll(session, renderer, tail)
            if locked:
                stale = 0
            elif status != "running":
                renderer.note(f"session {session.id} is {status}: nothing is driving it")
                return
            else:
                stale += 1
                if stale >= STALE_POLLS:
                    renderer.note(
                        f"session {session.id} says 'running' but no process holds it: it stopped "
                        f"(continue it with agentcli resume {session.id})"
                    )
                    return
            sleep(interval)
    except KeyboardInterrupt:
        return


def poll(session: Session, renderer: ShowRenderer, tail: Tail) -> None:
    """Draw calls that finished, calls that started, then new messages with their calls."""
    changed = [session.tool_calls.get(call_id) for call_id in sorted(tail.open_calls)]
    new_calls = session.tool_calls.after(tail.last_call_id)
    new_messages = session.transcript.after(tail.last_message_id)
    new_message_ids = {m.id for m in new_messages}

    for call in changed:
        if call.status != "running":
            renderer.tool_call(call)
    tail.see(changed)

    earlier = [c for c in new_calls if c.message_id not in new_message_ids]
    for call in earlier:
        renderer.tool_call(call)
    tail.see(new_calls)

    for message in new_messages:
        calls = [c for c in new_calls if c.message_id == message.id]
        renderer.message(message, calls, tail.known_call_ids, show_requested=False)
        tail.last_message_id = max(tail.last_message_id, message.id)
