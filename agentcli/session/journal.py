"""Tool calls and model calls: the journal of what the agent did and asked."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from agentcli.session.audit_codec import (
    FROM_MESSAGE,
    compact_response,
    decode_ids,
    encode_ids,
    expand_response,
    join_request,
    pop_shape,
    split_request,
    tools_json,
)
from agentcli.session.records import (
    MAX_TOKEN_COUNT,
    Message,
    ModelCallRecord,
    ToolCallRecord,
    now_iso,
    storable_text,
)
from agentcli.session.redaction import Redactor
from agentcli.store.blobs import BlobStore
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
        from_message: bool = True,
        sandbox: str | None = None,
        server: str | None = None,
        resume: str | None = None,
    ) -> int:
        """Journal a call before it runs; returns its row id.

        ``arguments`` are those of the call at ``position`` in the assistant message
        ``message_id`` (``from_message``): they are not stored again — a 2 MB
        ``write_file`` would otherwise sit in the file twice, and again as free pages
        when the row is updated — and are read back from the message. ``sandbox`` is the
        sandbox mode a shell call runs under; ``server`` names the MCP server of an MCP
        tool; ``resume`` is what resume does with the call if a crash catches it running
        (``redo``, ``interrupt``, ``check``; None: by its kind).
        """
        cur = self._db.execute(
            "INSERT INTO tool_calls (agent, prompt_id, message_id, position, call_id, name, "
            "arguments, kind, summary, approval, status, started_at, sandbox, server, resume) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [agent, prompt_id, message_id, position, storable_text(call_id), storable_text(name),
             "" if from_message else self._redact.text(storable_text(arguments)), kind,
             self._redact.text(summary) if summary else summary, approval, status, now_iso(), sandbox,
             server, resume],
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
        return self._records("WHERE t.id = ?", [tool_call_id])[0]

    def for_message(self, message_id: int) -> list[ToolCallRecord]:
        """The journaled calls of one assistant message, in order."""
        return self._records("WHERE t.message_id = ? ORDER BY t.position", [message_id])

    def all(self, agent: str | None = None) -> list[ToolCallRecord]:
        """Every call, oldest first."""
        where, params = ("WHERE t.agent = ?", [agent]) if agent else ("", [])
        return self._records(f"{where} ORDER BY t.id", params)

    def finished_ids(self, agent: str, names: Iterable[str]) -> list[int]:
        """Row ids of ``agent``'s finished calls (those with a result) of the tools ``names``,
        oldest first."""
        names = list(names)
        marks = ",".join("?" * len(names))
        rows = self._db.query(f"SELECT id FROM tool_calls WHERE agent = ? AND result IS NOT NULL "
                              f"AND name IN ({marks}) ORDER BY id", [agent, *names])
        return [row["id"] for row in rows]

    def denied(self, prompt_ids: list[int]) -> list[ToolCallRecord]:
        """Calls the approval policy denied during these prompts."""
        if not prompt_ids:
            return []
        marks = ",".join("?" * len(prompt_ids))
        return self._records(f"WHERE t.status = 'denied' AND t.prompt_id IN ({marks}) ORDER BY t.id",
                             prompt_ids)

    def after(self, tool_call_id: int) -> list[ToolCallRecord]:
        """Calls with a row id above ``tool_call_id``."""
        return self._records("WHERE t.id > ? ORDER BY t.id", [tool_call_id])

    def _records(self, where: str, params: list[Any]) -> list[ToolCallRecord]:
        """Rows as records; arguments not stored in the row come from their message."""
        rows = self._db.query(
            f"SELECT t.*, CASE WHEN t.arguments = '' THEN m.tool_calls END AS message_calls "
            f"FROM tool_calls t JOIN messages m ON m.id = t.message_id {where}", params
        )
        records = []
        parsed: dict[str, Any] = {}
        for row in rows:
            text = row.pop("message_calls")
            if text:
                if text not in parsed:
                    parsed[text] = json.loads(text)
                calls = parsed[text]
                if 0 <= row["position"] < len(calls):
                    row["arguments"] = (calls[row["position"]].get("function") or {}).get("arguments") or ""
            records.append(ToolCallRecord.from_row(row))
        return records


class AuditLog:
    """The ``model_calls`` table: every attempt at every model request."""

    def __init__(self, db: Db, redactor: Redactor, blobs: BlobStore):
        self._db = db
        self._redact = redactor
        self._blobs = blobs
        self._tools: dict[str, Any] = {}  # tools lists read back, by hash

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
        purpose: str = "turn",
        estimated_tokens: int | None = None,
        compaction_id: int | None = None,
        tool_result_chars: int | None = None,
        keep_messages: bool = False,
        shape: int | None = None,
    ) -> int:
        """Journal an attempt as ``pending`` before it is sent; returns its row id.

        ``request`` is the body sent. Its ``messages`` are the transcript rows listed in
        ``message_ids`` (stored as id ranges; tool results longer than
        ``tool_result_chars`` were sent trimmed, and the system message carried the summary
        of ``compaction_id``) and its ``tools`` list is stored once as a blob, so a row's size
        does not grow with the session (audit_codec.py). With ``keep_messages`` (messages
        built for this request, not transcript rows) the messages are stored as sent.
        ``shape`` says how the rows were shaped into messages (``SHAPE_KEY``; read back as
        ``ModelCallRecord.request_shape``).
        """
        body, tools = split_request(request, keep_messages=keep_messages, shape=shape)
        digest = None
        if tools is not None:
            digest = self._blobs.put(tools_json(self._redact.data(tools)))
        cur = self._db.execute(
            "INSERT INTO model_calls (agent, prompt_id, attempt, model, endpoint_host, request, "
            "request_message_ids, tools_hash, status, started_at, purpose, estimated_tokens, compaction_id, "
            "tool_result_chars) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
            [agent, prompt_id, attempt, model, endpoint_host, json.dumps(self._redact.data(body)),
             encode_ids(message_ids), digest, now_iso(), purpose, estimated_tokens, compaction_id,
             tool_result_chars],
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
        cached_tokens: int | None = None,
        message: Message | None = None,
    ) -> None:
        """Close an attempt: ``ok``, ``error`` or ``interrupted``.

        With ``message`` (the answer as appended to the transcript), the response's long
        text and tool-call arguments are not stored a second time: the row refers to
        the message for them (audit_codec.py), and reading puts them back.
        """
        if response is not None:
            response = self._redact.data(response)
            if message is not None:
                response = compact_response(response, message.id, message.content, message.tool_calls)
        prompt_tokens, completion_tokens, total_tokens = usage or (None, None, None)
        self._db.execute(
            "UPDATE model_calls SET status = ?, response = ?, error = ?, http_status = ?, "
            "latency_ms = ?, prompt_tokens = ?, completion_tokens = ?, total_tokens = ?, "
            "cached_tokens = ?, finished_at = ? WHERE id = ?",
            [status, json.dumps(response) if response is not None else None,
             self._redact.text(error) if error else error, http_status,
             latency_ms, prompt_tokens, completion_tokens, total_tokens, cached_tokens, now_iso(),
             model_call_id],
        )

    def calibration(self, agent: str) -> tuple[int, int] | None:
        """``(prompt_tokens, estimated_tokens)`` of the agent's newest answered request that
        has both: how the endpoint's count compares with agentcli's estimate."""
        row = self._db.execute(
            # the newest few only: an endpoint that never reports usage must not cost a full scan
            f"SELECT {_count('prompt_tokens')}, {_count('estimated_tokens')} FROM (SELECT * FROM model_calls "
            "WHERE agent = ? ORDER BY id DESC LIMIT 20) WHERE status = 'ok' AND "
            f"{_count('prompt_tokens')} > 0 AND {_count('estimated_tokens')} > 0 ORDER BY id DESC LIMIT 1",
            [agent]
        ).fetchone()
        return (int(row[0]), int(row[1])) if row else None

    def all(self, agent: str | None = None) -> list[ModelCallRecord]:
        """Every attempt, oldest first."""
        where, params = ("WHERE agent = ?", [agent]) if agent else ("", [])
        rows = self._db.query(f"SELECT * FROM model_calls {where} ORDER BY id", params)
        return [self._record(r) for r in rows]

    def _record(self, row: dict[str, Any]) -> ModelCallRecord:
        digest = row.pop("tools_hash", None)
        record = ModelCallRecord.from_row({**row, "request_message_ids": None})
        record.request_shape = pop_shape(record.request)
        if record.response is not None and FROM_MESSAGE in record.response:
            record.response = expand_response(record.response, self._message)
        record.request_message_ids = decode_ids(row["request_message_ids"])
        if digest:
            if digest not in self._tools:
                self._tools[digest] = json.loads(self._blobs.get(digest))
            record.request = join_request(record.request, self._tools[digest])
        return record

    def _message(self, message_id: int) -> Message | None:
        rows = list(self._db.query("SELECT * FROM messages WHERE id = ?", [message_id]))
        return Message.from_row(rows[0]) if rows else None

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
        cached = _sum("cached_tokens") if "cached_tokens" in columns else "0"
        rows = self._db.query(
            f"SELECT model, {_sum('prompt_tokens')} AS prompt_tokens, "
            f"{_sum('completion_tokens')} AS completion_tokens, {cached} AS cached_tokens "
            "FROM model_calls WHERE id > ? GROUP BY model ORDER BY model", [since],
        )
        counts = ("prompt_tokens", "completion_tokens", "cached_tokens")
        return [{**row, **{name: int(row[name]) for name in counts}} for row in rows]

    def totals(self) -> dict[str, object]:
        """Attempts, their outcomes, tokens and latency summed over the session: the one
        place these totals are computed (``log``, ``show``, ``export``, ``session.finished``)."""
        row = self._db.execute(
            f"SELECT count(*), {_sum('prompt_tokens')}, {_sum('completion_tokens')}, "
            f"{_sum('total_tokens')}, {_sum('latency_ms')} FROM model_calls"
        ).fetchone()
        keys = ("attempts", "prompt_tokens", "completion_tokens", "total_tokens", "latency_ms")
        totals: dict[str, object] = dict(zip(keys, (int(value) for value in row)))
        by_status = self._db.query(
            "SELECT status, count(*) AS n FROM model_calls GROUP BY status ORDER BY status"
        )
        totals["by_status"] = {r["status"]: r["n"] for r in by_status}
        return totals


def _count(column: str) -> str:
    """SQL for ``column`` as a token count (see ``records.token_count``): NULL unless it is a
    number from 0 to ``MAX_TOKEN_COUNT`` (a hostile or old file may hold text, -1 or 1e300)."""
    return (f"(CASE WHEN typeof({column}) IN ('integer', 'real') AND {column} BETWEEN 0 AND "
            f"{MAX_TOKEN_COUNT} THEN CAST({column} AS INTEGER) END)")


def _sum(column: str) -> str:
    """SQL summing the counts of ``column``: ``total`` (a float) never overflows as ``sum`` can."""
    return f"total({_count(column)})"
