"""Prompts and messages: the transcript, append-only, and the queue of user input."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import fields
from typing import Any

from agentcli.session.records import Message, Prompt, now_iso, storable_json, storable_text
from agentcli.session.redaction import Redactor
from agentcli.store.db import Db

# Message's fields in order, so context() can build messages from row tuples.
_MESSAGE_FIELDS = [f.name for f in fields(Message)]
_MESSAGE_COLUMNS = ", ".join(_MESSAGE_FIELDS)
_TOOL_CALLS = _MESSAGE_FIELDS.index("tool_calls")


def _message(values: tuple[Any, ...]) -> Message:
    """A Message from a row selected as ``_MESSAGE_COLUMNS`` (tool calls parsed)."""
    if values[_TOOL_CALLS]:
        values = (*values[:_TOOL_CALLS], json.loads(values[_TOOL_CALLS]), *values[_TOOL_CALLS + 1:])
    return Message(*values)


class Prompts:
    """The ``prompts`` table: user input is stored the moment it arrives."""

    def __init__(self, db: Db, redactor: Redactor):
        self._db = db
        self._redact = redactor

    def add(self, text: str, source: str = "argument") -> Prompt:
        """Queue a prompt; a turn takes it at the next boundary."""
        cur = self._db.execute(
            "INSERT INTO prompts (text, source, status, created_at) VALUES (?, ?, 'queued', ?)",
            [self._redact.text(text), source, now_iso()],
        )
        return self.get(cur.lastrowid)

    def get(self, prompt_id: int) -> Prompt:
        """The prompt with this id."""
        return Prompt.from_row(next(self._db.query("SELECT * FROM prompts WHERE id = ?", [prompt_id])))

    def mark_rolled_back(self, after_prompt_id: int, rollback_id: int) -> int:
        """Mark prompts after ``after_prompt_id`` as rolled back."""
        cur = self._db.execute(
            "UPDATE prompts SET rolled_back_by = ? WHERE id > ? AND rolled_back_by IS NULL",
            [rollback_id, after_prompt_id],
        )
        return cur.rowcount

    def unmark_rolled_back(self, rollback_id: int) -> int:
        """Bring back the prompts one rollback hid."""
        cur = self._db.execute(
            "UPDATE prompts SET rolled_back_by = NULL WHERE rolled_back_by = ?", [rollback_id]
        )
        return cur.rowcount

    def all(self) -> list[Prompt]:
        """Every prompt, oldest first."""
        return [Prompt.from_row(r) for r in self._db.query("SELECT * FROM prompts ORDER BY id")]

    def next_pending(self, skip: Collection[int] = ()) -> Prompt | None:
        """The prompt to work on: an unfinished turn (``running`` when its process died,
        ``interrupted`` by a signal) first, else the oldest queued one not in ``skip``."""
        held = list(skip)
        rows = list(
            self._db.query(
                "SELECT * FROM prompts WHERE status IN ('running', 'interrupted', 'queued') "
                f"AND rolled_back_by IS NULL AND id NOT IN ({','.join('?' * len(held))}) "
                "ORDER BY status = 'queued', id LIMIT 1", held
            )
        )
        return Prompt.from_row(rows[0]) if rows else None

    def queued(self, source: str) -> list[Prompt]:
        """Prompts from ``source`` (``terminal``: typed ahead there) still waiting for a turn."""
        return [Prompt.from_row(r) for r in self._db.query(
            "SELECT * FROM prompts WHERE status = 'queued' AND source = ? AND rolled_back_by IS NULL "
            "ORDER BY id", [source])]

    def latest(self) -> Prompt | None:
        """The newest prompt not rolled back (a resume's recap quotes it)."""
        rows = list(self._db.query(
            "SELECT * FROM prompts WHERE rolled_back_by IS NULL ORDER BY id DESC LIMIT 1"))
        return Prompt.from_row(rows[0]) if rows else None

    def count_queued(self) -> int:
        """How many prompts wait for a turn (typed ahead while the agent worked)."""
        return self._db.scalar(
            "SELECT count(*) FROM prompts WHERE status = 'queued' AND rolled_back_by IS NULL") or 0

    def start(self, prompt_id: int) -> None:
        """Mark a prompt as the running turn."""
        self._db.execute(
            "UPDATE prompts SET status = 'running', started_at = coalesce(started_at, ?) WHERE id = ?",
            [now_iso(), prompt_id],
        )

    def finish(self, prompt_id: int, status: str, error: str | None = None) -> None:
        """Close a turn: ``done``, ``failed`` or ``interrupted``."""
        self._db.execute(
            "UPDATE prompts SET status = ?, finished_at = ?, error = ? WHERE id = ?",
            [status, now_iso(), error and self._redact.text(error), prompt_id],
        )


class Transcript:
    """The ``messages`` table. Rows are never deleted; rollback only marks them.

    ``revision`` counts the changes that are not appends (a rollback marking rows, or
    its undo): whoever keeps messages read earlier reads them again when it moves.
    """

    def __init__(self, db: Db, redactor: Redactor):
        self._db = db
        self._redact = redactor
        self.revision = 0

    def append(
        self,
        role: str,
        content: str,
        *,
        agent: str,
        prompt_id: int | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
        tool_call_id: str | None = None,
        model_call_id: int | None = None,
    ) -> Message:
        """Append one message and return it with its id."""
        content = self._redact.text(storable_text(content))  # model text may hold lone surrogates
        tool_call_id = storable_text(tool_call_id) if tool_call_id is not None else None
        calls = json.dumps(self._redact.data(storable_json(tool_calls))) if tool_calls else None
        chars = len(content) + len(calls or "")
        cur = self._db.execute(
            "INSERT INTO messages (agent, prompt_id, role, content, chars, tool_calls, "
            "tool_call_id, model_call_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [agent, prompt_id, role, content, chars, calls, tool_call_id, model_call_id, now_iso()],
        )
        return self.get(cur.lastrowid)

    def get(self, message_id: int) -> Message:
        """The message with this id."""
        row = next(self._db.query("SELECT * FROM messages WHERE id = ?", [message_id]))
        return Message.from_row(row)

    def all(self, agent: str | None = None) -> list[Message]:
        """Every message (rolled back ones included), oldest first."""
        if agent is None:
            rows = self._db.query("SELECT * FROM messages ORDER BY id")
        else:
            rows = self._db.query("SELECT * FROM messages WHERE agent = ? ORDER BY id", [agent])
        return [Message.from_row(r) for r in rows]

    def after(self, message_id: int) -> list[Message]:
        """Messages with an id above ``message_id`` (for ``show --follow``)."""
        rows = self._db.query("SELECT * FROM messages WHERE id > ? ORDER BY id", [message_id])
        return [Message.from_row(r) for r in rows]

    def last_id(self) -> int:
        """The highest message id, 0 when empty."""
        return self._db.execute("SELECT coalesce(max(id), 0) FROM messages").fetchone()[0]

    def count(self) -> int:
        """How many messages the session holds."""
        return self._db.execute("SELECT count(*) FROM messages").fetchone()[0]

    def last(self, agent: str) -> Message | None:
        """The newest live (not rolled back) message of an agent."""
        rows = list(
            self._db.query(
                "SELECT * FROM messages WHERE agent = ? AND rolled_back_by IS NULL "
                "ORDER BY id DESC LIMIT 1",
                [agent],
            )
        )
        return Message.from_row(rows[0]) if rows else None

    def last_assistant(self, agent: str) -> Message | None:
        """The newest live assistant message of an agent."""
        rows = list(
            self._db.query(
                "SELECT * FROM messages WHERE agent = ? AND role = 'assistant' AND rolled_back_by IS NULL "
                "ORDER BY id DESC LIMIT 1",
                [agent],
            )
        )
        return Message.from_row(rows[0]) if rows else None

    def newest(self, agent: str, count: int) -> list[Message]:
        """The agent's ``count`` newest live messages, oldest first."""
        rows = list(self._db.query(
            "SELECT * FROM messages WHERE agent = ? AND rolled_back_by IS NULL ORDER BY id DESC LIMIT ?",
            [agent, count]))
        return [Message.from_row(r) for r in reversed(rows)]

    def system(self, agent: str) -> Message | None:
        """The agent's system message, if one was recorded."""
        rows = list(
            self._db.query(
                "SELECT * FROM messages WHERE agent = ? AND role = 'system' ORDER BY id LIMIT 1", [agent]
            )
        )
        return Message.from_row(rows[0]) if rows else None

    def tail(self, agent: str, after_id: int, budget_chars: int, *, tool_chars: int | None = None,
             upto_id: int | None = None) -> tuple[list[Message], bool]:
        """The agent's live non-system messages with ids above ``after_id`` (and at most
        ``upto_id``), oldest first, read backwards from the newest until ``budget_chars``
        is passed.

        A tool message, and a call's arguments, count at most ``tool_chars`` (they are sent
        trimmed: ``Message.counted_chars``). Returns the messages and whether they reach back
        to ``after_id`` (False: older ones were left unread because the budget ran out). Its
        cost follows the budget, not the session.
        """
        picked: list[Message] = []
        used = 0
        complete = True
        sql = (f"SELECT chars, {_MESSAGE_COLUMNS} FROM messages WHERE agent = ? AND id > ? "
               "AND id <= ? AND role != 'system' AND rolled_back_by IS NULL ORDER BY id DESC")
        with self._db.cursor(sql, [agent, after_id, upto_id if upto_id is not None else 2**62]) as cursor:
            for row in cursor:
                if used > budget_chars:
                    complete = False
                    break
                message = _message(row[1:])
                picked.append(message)
                used += message.counted_chars(tool_chars, row[0])
        picked.reverse()
        return picked, complete

    def last_user_at_or_before(self, agent: str, message_id: int) -> Message | None:
        """The agent's newest live user message with an id of at most ``message_id`` (a person's
        or a task's: not a note agentcli added after a model call, see ``Message.is_note``)."""
        rows = list(self._db.query(
            "SELECT * FROM messages WHERE agent = ? AND id <= ? AND role = 'user' AND rolled_back_by IS NULL "
            "AND model_call_id IS NULL ORDER BY id DESC LIMIT 1", [agent, message_id]))
        return Message.from_row(rows[0]) if rows else None

    def mark_rolled_back(self, after_message_id: int, rollback_id: int) -> int:
        """Hide live messages after ``after_message_id`` from future requests."""
        self.revision += 1
        cur = self._db.execute(
            "UPDATE messages SET rolled_back_by = ? WHERE id > ? AND rolled_back_by IS NULL",
            [rollback_id, after_message_id],
        )
        return cur.rowcount

    def unmark_rolled_back(self, rollback_id: int) -> int:
        """Bring back the messages one rollback hid."""
        self.revision += 1
        cur = self._db.execute(
            "UPDATE messages SET rolled_back_by = NULL WHERE rolled_back_by = ?", [rollback_id]
        )
        return cur.rowcount
