"""The ``compactions`` table: summaries that stand for older turns in later requests.

A compaction marks, it never deletes: the messages it covers stay in ``messages``
untouched, and a rollback marks the compaction itself (``rolled_back_by``) so the
context of the checkpoint's time comes back.
"""

from __future__ import annotations

from agentcli.session.records import CompactionRecord, now_iso
from agentcli.session.redaction import Redactor
from agentcli.store.db import Db

# The statuses whose row shapes the context: a summary, or a recorded cut without one.
SHAPING = ("done", "dropped")


class Compactions:
    """Compaction records, one agent's at a time.

    Example:
        >>> row = session.compactions.begin("orchestrator", prompt_id=1, reason="auto",
        ...                                 first=2, last=40, at=57, pinned=2, previous=None, tokens=13_100)
        >>> session.compactions.finish(row, "done", summary="...", model_call_id=9, tokens=4_200)
    """

    def __init__(self, db: Db, redactor: Redactor):
        self._db = db
        self._redact = redactor

    def begin(self, agent: str, *, prompt_id: int | None, reason: str, first: int, last: int, at: int,
              pinned: int | None, previous: int | None, tokens: int | None, status: str = "pending",
              summary: str | None = None) -> int:
        """Record a compaction before its summarising call is sent; returns its id."""
        cur = self._db.execute(
            "INSERT INTO compactions (agent, prompt_id, reason, status, first_message_id, last_message_id, "
            "at_message_id, pinned_message_id, previous_id, summary, tokens_before, created_at, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [agent, prompt_id, reason, status, first, last, at, pinned, previous,
             None if summary is None else self._redact.text(summary), tokens, now_iso(),
             None if status == "pending" else now_iso()],
        )
        return cur.lastrowid

    def finish(self, compaction_id: int, status: str, *, summary: str | None = None,
               model_call_id: int | None = None, tokens: int | None = None, error: str | None = None) -> None:
        """Close a compaction: ``done`` with its summary, or ``failed`` with the reason."""
        self._db.execute(
            "UPDATE compactions SET status = ?, summary = coalesce(?, summary), "
            "model_call_id = coalesce(?, model_call_id), tokens_after = ?, error = ?, finished_at = ? "
            "WHERE id = ?",
            [status, None if summary is None else self._redact.text(summary), model_call_id, tokens,
             None if error is None else self._redact.text(error), now_iso(), compaction_id],
        )

    def set_tokens_after(self, compaction_id: int, tokens: int) -> None:
        """Record the size of the first request built on this compaction."""
        self._db.execute("UPDATE compactions SET tokens_after = ? WHERE id = ?", [tokens, compaction_id])

    def get(self, compaction_id: int) -> CompactionRecord:
        """The compaction with this id."""
        return CompactionRecord.from_row(next(self._db.query("SELECT * FROM compactions WHERE id = ?",
                                                             [compaction_id])))

    def latest(self, agent: str) -> CompactionRecord | None:
        """The live compaction that shapes the agent's context now (a summary or a cut)."""
        rows = list(self._db.query(
            "SELECT * FROM compactions WHERE agent = ? AND rolled_back_by IS NULL AND status IN (?, ?) "
            "ORDER BY id DESC LIMIT 1", [agent, *SHAPING]))
        return CompactionRecord.from_row(rows[0]) if rows else None

    def pending(self, agent: str) -> CompactionRecord | None:
        """A live compaction whose summarising call never answered (its process died)."""
        rows = list(self._db.query(
            "SELECT * FROM compactions WHERE agent = ? AND rolled_back_by IS NULL AND status = 'pending' "
            "ORDER BY id DESC LIMIT 1", [agent]))
        return CompactionRecord.from_row(rows[0]) if rows else None

    def all(self, agent: str | None = None) -> list[CompactionRecord]:
        """Every compaction (rolled back ones included), oldest first."""
        where, params = ("WHERE agent = ?", [agent]) if agent else ("", [])
        rows = self._db.query(f"SELECT * FROM compactions {where} ORDER BY id", params)
        return [CompactionRecord.from_row(r) for r in rows]

    def mark_rolled_back(self, after_message_id: int, rollback_id: int) -> int:
        """Hide compactions made after message ``after_message_id`` (a checkpoint's watermark)."""
        cur = self._db.execute(
            "UPDATE compactions SET rolled_back_by = ? WHERE at_message_id > ? AND rolled_back_by IS NULL",
            [rollback_id, after_message_id],
        )
        return cur.rowcount

    def unmark_rolled_back(self, rollback_id: int) -> int:
        """Bring back the compactions one rollback hid."""
        cur = self._db.execute(
            "UPDATE compactions SET rolled_back_by = NULL WHERE rolled_back_by = ?", [rollback_id]
        )
        return cur.rowcount
