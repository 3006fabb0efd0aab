"""The conversation as a client redraws it when it reopens a session (ACP's ``session/load``).

Plain records read from the session's own tables, nothing from memory: the orchestrator's
live messages in order (rolled-back ones and agentcli's own notes left out) — the person's
prompts, the model's answers, and under each answer its tool calls with their final status
and result; an edit's files with their text before and after, from the file log and its
blobs (so the diff shown is the one that was applied, not one recomputed from the disk).

Example:
    >>> [(m.role, m.text[:20], [c.status for c in m.calls]) for m in conversation(session)]
    [('user', 'fix the test', []), ('assistant', '', ['done']), ('assistant', 'Fixed.', [])]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentcli.agent.workspace.edit_text import TEXT_SIDE_BYTES, text_of
from agentcli.errors import SessionFileError
from agentcli.session.records import ORCHESTRATOR

if TYPE_CHECKING:
    from agentcli.session.records import FileChange, Message, ToolCallRecord
    from agentcli.session.session import Session

NOT_RUN = "pending"
"""The status of a call the model asked for that has no journal row yet (resume runs it)."""


@dataclass(frozen=True)
class PastEdit:
    """One file an edit changed: its text before (None: it did not exist) and after (None:
    deleted); ``binary`` when either side is not text (or too large to show)."""

    path: str
    op: str
    old_text: str | None
    new_text: str | None
    binary: bool = False


@dataclass(frozen=True)
class PastCall:
    """One tool call of an answer: ``status`` as journaled (``pending`` when never journaled)."""

    call_id: str
    name: str
    arguments: str
    status: str
    result: str | None = None
    is_error: bool = False
    kind: str | None = None
    server: str | None = None
    data: dict[str, Any] | None = None
    edits: list[PastEdit] = field(default_factory=list)


@dataclass(frozen=True)
class PastMessage:
    """A prompt (``user``) or an answer (``assistant``, with the calls it made)."""

    role: str
    text: str
    prompt_id: int | None
    calls: list[PastCall] = field(default_factory=list)


def conversation(session: Session) -> list[PastMessage]:
    """The orchestrator's conversation, oldest first (see the module docstring)."""
    calls: dict[int, list[ToolCallRecord]] = {}
    for record in session.tool_calls.all(ORCHESTRATOR):
        calls.setdefault(record.message_id, []).append(record)
    changes: dict[int, list[FileChange]] = {}
    for change in session.files.all():
        if change.tool_call_id is not None and change.status in ("applied", "intended"):
            changes.setdefault(change.tool_call_id, []).append(change)
    past = []
    for message in session.transcript.all(ORCHESTRATOR):
        if message.rolled_back_by is not None or message.is_note:
            continue
        if message.role == "user":
            past.append(PastMessage("user", message.content, message.prompt_id))
        elif message.role == "assistant":
            journaled = {record.position: record for record in calls.get(message.id, [])}
            past.append(PastMessage("assistant", message.content, message.prompt_id,
                                    _calls(session, message, journaled, changes)))
    return past


def _calls(session: Session, message: Message, journaled: dict[int, ToolCallRecord],
           changes: dict[int, list[FileChange]]) -> list[PastCall]:
    out = []
    for position, call in enumerate(message.tool_calls or []):
        function = call.get("function") or {}
        record = journaled.get(position)
        if record is None:
            out.append(PastCall(str(call.get("id", "")), str(function.get("name") or ""),
                                str(function.get("arguments") or ""), NOT_RUN))
            continue
        made = changes.get(record.id, []) if record.kind == "edit" else []
        edits = [_edit(session, change) for change in made]
        out.append(PastCall(record.call_id, record.name, record.arguments, record.status, record.result,
                            record.is_error, record.kind, record.server, record.data, edits))
    return out


def _edit(session: Session, change: FileChange) -> PastEdit:
    old, old_binary = _side(session, change.before_hash, change.before_size)
    new, new_binary = _side(session, change.after_hash, change.after_size)
    return PastEdit(change.path, change.op, old, new, old_binary or new_binary)


def _side(session: Session, digest: str | None, size: int | None) -> tuple[str | None, bool]:
    """The text of one side of a change (None: no file) and whether it cannot be shown."""
    if digest is None:
        return None, False
    if size is not None and size > TEXT_SIDE_BYTES:
        return None, True
    try:
        text = text_of(session.blobs.get(digest))
    except (KeyError, SessionFileError):  # a blob the file lacks, or a damaged one: no text
        return None, True
    return text, text is None
