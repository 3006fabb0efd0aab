"""Tool calls and model calls: the journal of what the agent did and asked."""

from __future__ import annotations

import json
from typing import Any

from agentcli.session.records import ModelCallRecord, ToolCallRecord, now_iso
from agentcli.session.redaction import Redactor
from agentcli.store.db import Db


class ToolJournal:
    """The ``tool_calls`` table: a call is ``running`` before it acts, then closed."""

    def __init__(self, db: Db, redactor: Redactor):
        self._db = db
        self._redact = redactor

    def begin(
        self,
        *,
        message_id: int,
        position: int,
        call_id: str,
        name: str,
        arguments: str,
        prompt_id: int | None,
        agent: str,
        kind: str | None = None,
        summary: str | None = None,
        approval: str | None = None,
        status: str = "running",
    ) -> int:
        """Journal a call before it runs; returns its row id."""
        cur = self._db.execute(
            "INSERT INTO tool_calls (agent, prompt_id, message_id, position, call_id, name, "
            "arguments, kind, summary, approval, status, started_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [agent, prompt_id, message_id, position, call_id, name, self._redact.text(arguments), kind,
             self._redact.text(summary) if summary else summary, approval, status, now_iso()],
        )
        return cur.lastrowid

    def finish(
        self,
        tool_call_id: int,
        status: str,
        result: str,
        *,
        is_error: bool = False,
        data: dict[str, Any] | None = None,
        duration_ms: int | None = None,
    ) -> None:
        """Close a call with its status and the result the model will see."""
        self._db.execute(
            "UPDATE tool_calls SET status = ?, result = ?, is_error = ?, data = ?, "
            "finished_at = ?, duration_ms = ? WHERE id = ?",
            [status, self._redact.text(result), int(is_error),
             json.dumps(self._redact.data(data)) if data else None, now_iso(), duration_ms, tool_call_id],
        )

    def get(self, tool_call_id: int) -> ToolCallRecord:
        """The call with this row id."""
        return ToolCallRecord.from_row(
            next(self._db.query("SELECT * FROM tool_calls WHERE id = ?", [tool_call_id]))
        )

    def for_message(self, message_id: int) -> list[ToolCallRecord]:
        """The journaled calls of one assistant message, in order."""
        rows = self._db.query(
            "SELECT * FROM tool_calls WHERE message_id = ? ORDER BY position", [message_id]
        )
        return [ToolCallRecord.from_row(r) for r in rows]

    def all(self, agent: str | None = None) -> list[ToolCallRecord]:
        """Every call, oldest first."""
        where, params = ("WHERE agent = ?", [agent]) if agent else ("", [])
        rows = self._db.query(f"SELECT * FROM tool_calls {where} ORDER BY id", params)
        return [ToolCallRecord.from_row(r) for r in rows]

    def denied(self, prompt_ids: list[int]) -> list[ToolCallRecord]:
        """Calls the approval policy denied during these prompts."""
        if not prompt_ids:
            return []
        marks = ",".join("?" * len(prompt_ids))
        rows = self._db.query(
            f"SELECT * FROM tool_calls WHERE status = 'denied' AND prompt_id IN ({marks}) ORDER BY id",
            prompt_ids,
        )
        return [ToolCallRecord.from_row(r) for r in rows]

    def after(self, tool_call_id: int) -> list[ToolCallRecord]:
        """Calls with a row id above ``tool_call_id``."""
        rows = self._db.query("SELECT * FROM tool_calls WHERE id > ? ORDER BY id", [tool_call_id])
        return [ToolCallRecord.from_row(r) for r in rows]


class AuditLog:
    """The ``model_calls`` table: every attempt at every model request."""

    def __init__(self, db: Db, redactor: Redactor):
        self._db = db
        self._redact = redactor

    def begin(
        self,
        *,
        model: str,
        endpoint_host: str,
        request: dict[str, Any],
        message_ids: list[int],
        attempt: int,
        prompt_id: int | None,
        agent: str,
    ) -> int:
        """Journal an attempt as ``pending`` before it is sent; returns its row id.

        ``request`` is the body sent, without its ``messages``: those are the
        transcript rows listed in ``message_ids``, so the log grows linearly.
        """
        body = {k: v for k, v in request.items() if k != "messages"}
        cur = self._db.execute(
            "INSERT INTO model_calls (agent, prompt_id, attempt, model, endpoint_host, request, "
            "request_message_ids, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
            [agent, prompt_id, attempt, model, endpoint_host, json.dumps(self._redact.data(body)),
             json.dumps(message_ids), now_iso()],
        )
        return cur.lastrowid

    def finish(
        self,
        model_call_id: int,
        *,
        status: str,
        response: dict[str, Any] | None = None,
        error: str | None = None,
        http_status: int | None = None,
        latency_ms: int | None = None,
        usage: tuple[int | None, int | None, int | None] | None = None,
    ) -> None:
        """Close an attempt: ``ok``, ``error`` or ``interrupted``."""
        prompt_tokens, completion_tokens, total_tokens = usage or (None, None, None)
        self._db.execute(
            "UPDATE model_calls SET status = ?, response = ?, error = ?, http_status = ?, "
            "latency_ms = ?, prompt_tokens = ?, completion_tokens = ?, total_tokens = ?, "
            "finished_at = ? WHERE id = ?",
            [status, json.dumps(self._redact.data(response)) if response is not None else None,
             self._redact.text(error) if error else error, http_status,
             latency_ms, prompt_tokens, completion_tokens, total_tokens, now_iso(), model_call_id],
        )

    def all(self, agent: str | None = None) -> list[ModelCallRecord]:
        """Every attempt, oldest first."""
        where, params = ("WHERE agent = ?", [agent]) if agent else ("", [])
        rows = self._db.query(f"SELECT * FROM model_calls {where} ORDER BY id", params)
        return [ModelCallRecord.from_row(r) for r in rows]

    def close_pending(self, agent: str, error: str) -> int:
        """Mark one agent's attempts left ``pending`` by a dead process as ``interrupted``.

        Scoped to the agent: another agent's call may be in flight on another thread.
        """
        cur = self._db.execute(
            "UPDATE model_calls SET status = 'interrupted', error = ?, finished_at = ? "
            "WHERE status = 'pending' AND agent = ?",
            [error, now_iso(), agent],
        )
        return cur.rowcount

    def last_id(self) -> int:
        """The newest attempt's row id (0 when there is none): where a run's own usage starts."""
        return self._db.execute("SELECT coalesce(max(id), 0) FROM model_calls").fetchone()[0]

    def usage_by_model(self, since: int = 0) -> list[dict[str, object]]:
        """Tokens per model over the attempts after row ``since``: ``model``, ``prompt_tokens``,
        ``completion_tokens``, ``cached_tokens`` (0 when the file has no such column)."""
        columns = {r["name"] for r in self._db.query("PRAGMA table_info(model_calls)")}
        cached = "coalesce(sum(cached_tokens), 0)" if "cached_tokens" in columns else "0"
        return list(self._db.query(
            "SELECT model, coalesce(sum(prompt_tokens), 0) AS prompt_tokens, "
            f"coalesce(sum(completion_tokens), 0) AS completion_tokens, {cached} AS cached_tokens "
            "FROM model_calls WHERE id > ? GROUP BY model ORDER BY model", [since],
        ))

    def totals(self) -> dict[str, object]:
        """Attempts, their outcomes, tokens and latency summed over the session: the one
        place these totals are computed (``log``, ``show``, ``export``, ``session.finished``)."""
        row = self._db.execute(
            "SELECT count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0), "
            "coalesce(sum(total_tokens), 0), coalesce(sum(latency_ms), 0) FROM model_calls"
        ).fetchone()
        keys = ("attempts", "prompt_tokens", "completion_tokens", "total_tokens", "latency_ms")
        totals: dict[str, object] = dict(zip(keys, row))
        by_status = self._db.query(
            "SELECT status, count(*) AS n FROM model_calls GROUP BY status ORDER BY status"
        )
        totals["by_status"] = {r["status"]: r["n"] for r in by_status}
        return totals
