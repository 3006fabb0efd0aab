"""Prompts and messages: the transcript, append-only, and the queue of user input."""

from __future__ import annotations

import json
from typing import Any

from agentcli.session.records import AGENT, Message, Prompt, now_iso
from agentcli.store.db import Db


class Prompts:
    """The ``prompts`` table: user input is stored the moment it arrives."""

    def __init__(self, db: Db):
        self._db = db

    def add(self, text: str, source: str = "argument") -> Prompt:
        """Queue a prompt; a turn takes it at the next boundary."""
        cur = self._db.execute(
            "INSERT INTO prompts (text, source, status, created_at) VALUES (?, ?, 'queued', ?)",
            [text, source, now_iso()],
        )
        return self.get(cur.lastrowid)

    def get(self, prompt_id: int) -> Prompt:
        """The prompt with this id."""
        return Prompt.from_row(next(self._db.query("SELECT * FROM prompts WHERE id = ?", [prompt_id])))

    def all(self) -> list[Prompt]:
        """Every prompt, oldest first."""
        return [Prompt.from_row(r) for r in self._db.query("SELECT * FROM prompts ORDER BY id")]

    def next_pending(self) -> Prompt | None:
        """The prompt to work on: an interrupted ``running`` one first, else the oldest queued."""
        for status in ("running", "queued"):
            rows = list(
                self._db.query(
                    "SELECT * FROM prompts WHERE status = ? AND rolled_back_by IS NULL "
                    "ORDER BY id LIMIT 1",
                    [status],
                )
            )
            if rows:
                return Prompt.from_row(rows[0])
        return None

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
            [status, now_iso(), error, prompt_id],
        )


class Transcript:
    """The ``messages`` table. Rows are never deleted; rollback only marks them."""

    def __init__(self, db: Db):
        self._db = db

    def append(
        self,
        role: str,
        content: str,
        *,
        agent: str = AGENT,
        prompt_id: int | None = None,
        tool_calls: list[dict[str, Any]] | None = None,
        tool_call_id: str | None = None,
        model_call_id: int | None = None,
    ) -> Message:
        """Append one message and return it with its id."""
        calls = json.dumps(tool_calls) if tool_calls else None
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

    def system(self, agent: str = AGENT) -> Message | None:
        """The agent's system message, if one was recorded."""
        rows = list(
            self._db.query(
                "SELECT * FROM messages WHERE agent = ? AND role = 'system' ORDER BY id LIMIT 1", [agent]
            )
        )
        return Message.from_row(rows[0]) if rows else None

    def context(self, budget_chars: int, agent: str = AGENT) -> list[Message]:
        """What the next model request carries: the system message, then the newest
        live messages that fit in ``budget_chars``, starting at a user message.

        Reads backwards from the newest row and stops at the budget, so its cost
        follows the context window, not the length of the session.
        """
        picked: list[Message] = []
        used = 0
        cursor = self._db.conn.execute(
            "SELECT * FROM messages WHERE agent = ? AND role != 'system' "
            "AND rolled_back_by IS NULL ORDER BY id DESC",
            [agent],
        )
        names = [d[0] for d in cursor.description]
        for values in cursor:
            row = dict(zip(names, values))
            if picked and used + row["chars"] > budget_chars and picked[-1].role == "user":
                break
            picked.append(Message.from_row(row))
            used += row["chars"]
        cursor.close()
        picked.reverse()
        system = self.system(agent)
        return ([system] if system else []) + picked

    def mark_rolled_back(self, after_message_id: int, rollback_id: int) -> int:
        """Hide live messages after ``after_message_id`` from future requests."""
        cur = self._db.execute(
            "UPDATE messages SET rolled_back_by = ? WHERE id > ? AND rolled_back_by IS NULL",
            [rollback_id, after_message_id],
        )
        return cur.rowcount

    def unmark_rolled_back(self, rollback_id: int) -> int:
        """Bring back the messages one rollback hid."""
        cur = self._db.execute(
            "UPDATE messages SET rolled_back_by = NULL WHERE rolled_back_by = ?", [rollback_id]
        )
        return cur.rowcount
