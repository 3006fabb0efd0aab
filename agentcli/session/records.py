"""Plain dataclasses for the session's rows: what every layer above the SQL sees."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

ORCHESTRATOR = "orchestrator"
"""The agent a user's prompts go to; scouts and other agents have names of their own."""

PLAN_STATUSES = ("pending", "in_progress", "done")
PLAN_MARKS = {"pending": "[ ]", "in_progress": "[>]", "done": "[x]"}
"""How a plan item's status is drawn, everywhere (tool result, show, export, terminal)."""


def now_iso() -> str:
    """UTC time as ISO 8601 with milliseconds, e.g. ``2026-11-26T19:20:01.123Z``."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def storable_text(text: str) -> str:
    """``text`` as SQLite can store it: each lone surrogate (a model's JSON ``"\\ud800"``, a
    file name that is not UTF-8) becomes its escape ``\\ud800`` — in JSON text, the same value."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def storable_json(value: Any) -> Any:
    """``value`` with :func:`storable_text` applied to every string in it."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_json(k): storable_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable_json(v) for v in value]
    return value


def _loads(text: str | None) -> Any:
    return json.loads(text) if text else None


MAX_TOKEN_COUNT = 2**53
"""The largest token count taken as one: past it (or negative, NaN, infinite, not a number)
a reported count means nothing, and sums of such counts stay exact in a float."""


def token_count(value: Any) -> int | None:
    """A token count as an endpoint (or an old session file) gave it, as a non-negative int,
    or None when it is no count at all: a string of digits and a finite float are taken,
    a negative or huge number, NaN, a list, ``true`` are not.

    Example:
        >>> token_count(12), token_count(12.7), token_count("40"), token_count(float("nan")), token_count(-1)
        (12, 12, 40, None, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not value.isdecimal() or len(value) > 17:
            return None
        value = int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_TOKEN_COUNT:
        return None
    return value


SESSION_STATUSES = {
    "running": "a process drives it now (a terminal waiting for input included)",
    "idle": "its last turn finished; a new prompt goes on from there",
    "interrupted": "its last turn was stopped by a crash, a signal, an endpoint still failing after its "
                   "retries or the turn limit: resume finishes it",
    "cancelled": "you stopped its last turn (Ctrl-C in the terminal): it is not taken up again",
    "failed": "the endpoint refused its last request (a bad key, model or URL: 400, 401, 403, 404); "
              "resume retries the turn once that is fixed",
    "budget": "its last run spent its --max-cost or --max-tokens: resume (with a new budget) goes on",
    "error": "the file cannot be read (list --all shows why)",
}
"""Every word ``list``, ``show``, the picker and ``--json`` use for a session's status, and
what it means (the README's table is this one)."""


@dataclass
class SessionMeta:
    """The one ``meta`` row: who the session is."""

    id: str
    title: str
    workspace_root: str
    created_at: str
    updated_at: str
    model: str | None
    endpoint_host: str | None
    status: str
    schema_version: int
    agentcli_version: str
    settings: dict[str, Any] = field(default_factory=dict)
    forked_from: str | None = None  # a fork: its parent's id
    forked_at: int | None = None  # the checkpoint the fork was cut at (None: the whole session)
    untrusted_origin: str | None = None  # a fork of a file from elsewhere: that file (never trusted)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SessionMeta:
        """Build from a ``meta`` row."""
        return cls(**{**row, "settings": _loads(row["settings"]) or {}})

    def status_now(self, busy: bool) -> str:
        """The status to show (one of :data:`SESSION_STATUSES`): ``running`` whenever a
        process holds the session (a terminal waiting for input too); ``running`` recorded
        with nobody holding the lock means its process died mid-turn: ``interrupted``."""
        if busy:
            return "running"
        return "interrupted" if self.status == "running" else self.status


@dataclass
class Prompt:
    """A user prompt: one turn's input, queued until a turn takes it."""

    id: int
    text: str
    source: str
    status: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    rolled_back_by: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Prompt:
        """Build from a ``prompts`` row."""
        return cls(**row)


@dataclass
class Message:
    """One transcript entry, in the shape of a Chat Completions message."""

    id: int
    agent: str
    prompt_id: int | None
    role: str
    content: str
    tool_calls: list[dict[str, Any]] | None
    tool_call_id: str | None
    model_call_id: int | None
    created_at: str
    rolled_back_by: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Message:
        """Build from a ``messages`` row."""
        row = dict(row)
        row.pop("chars", None)
        return cls(**{**row, "tool_calls": _loads(row["tool_calls"])})

    def counted_chars(self, limit: int | None, chars: int | None = None) -> int:
        """The characters this message counts against a request's room when tool results and
        call arguments longer than ``limit`` are sent trimmed; ``chars`` is its ``chars``
        column (content and calls), when known.

        Example:
            >>> tool_result.counted_chars(2_000)   # a 50,000-character result
            2000
        """
        if chars is None:
            chars = len(self.content) + (len(json.dumps(self.tool_calls)) if self.tool_calls else 0)
        if limit is None or chars <= limit:
            return chars
        if self.role == "tool":
            return limit
        if not self.tool_calls:
            return chars
        counted = len(self.content)
        for call in self.tool_calls:
            function = call.get("function") if isinstance(call, dict) else None
            arguments = function.get("arguments") if isinstance(function, dict) else None
            counted += _CALL_OVERHEAD + min(len(arguments) if isinstance(arguments, str) else 0, limit)
        return min(chars, counted)

    @property
    def is_note(self) -> bool:
        """A user-role message agentcli wrote about the model call ``model_call_id`` (e.g. that
        its answer was cut off), not a prompt: a person's messages have no model call."""
        return self.role == "user" and self.model_call_id is not None

    def to_api(self) -> dict[str, Any]:
        """The message as the Chat Completions API takes it."""
        out: dict[str, Any] = {"role": self.role, "content": self.content or ""}
        if self.tool_calls:
            out["tool_calls"] = self.tool_calls
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        return out


@dataclass
class ToolCallRecord:
    """One tool call's journal entry."""

    id: int
    agent: str
    prompt_id: int | None
    message_id: int
    position: int
    call_id: str
    name: str
    arguments: str
    kind: str | None
    summary: str | None
    approval: str | None
    status: str
    result: str | None
    is_error: bool
    data: dict[str, Any] | None
    started_at: str
    finished_at: str | None
    duration_ms: int | None
    server: str | None = None  # the MCP server of an MCP tool's call
    resume: str | None = None  # what resume does with it if caught running (None: by its kind)
    sandbox: str | None = None  # a shell call's: workspace-write, read-only, off, outside, unavailable

    @property
    def unsandboxed(self) -> bool:
        """A shell call that ran (or was to run) without a sandbox."""
        return self.sandbox in ("off", "outside", "unavailable")

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ToolCallRecord:
        """Build from a ``tool_calls`` row."""
        return cls(**{**row, "is_error": bool(row["is_error"]), "data": _loads(row["data"])})


@dataclass
class ModelCallRecord:
    """One attempt at a model request: the audit log."""

    id: int
    agent: str
    prompt_id: int | None
    attempt: int
    model: str
    endpoint_host: str
    request: dict[str, Any]
    request_message_ids: list[int]
    response: dict[str, Any] | None
    status: str
    error: str | None
    http_status: int | None
    latency_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    started_at: str
    finished_at: str | None
    purpose: str = "turn"  # "turn": the agent's own step; "compaction": a summarising call
    estimated_tokens: int | None = None  # the request's size as estimated before it was sent
    cached_tokens: int | None = None  # usage.prompt_tokens_details.cached_tokens, when reported
    compaction_id: int | None = None  # the summary the request carried in place of older turns
    tool_result_chars: int | None = None  # tool results longer than this were sent trimmed
    request_shape: int = 1  # how its messages were shaped (audit_codec.SHAPE_KEY); not a column

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ModelCallRecord:
        """Build from a ``model_calls`` row (token counts that are no counts read as None)."""
        counts = {name: token_count(row[name]) for name in _COUNTS if name in row}
        return cls(
            **{
                **row,
                **counts,
                "request": _loads(row["request"]) or {},
                "request_message_ids": _loads(row["request_message_ids"]) or [],
                "response": _loads(row["response"]),
            }
        )


_CALL_OVERHEAD = 120  # characters of a tool call besides its arguments (id, type, name), about

_COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "estimated_tokens",
           "latency_ms")


COMPACTION = "compaction"
"""The ``purpose`` of a summarising model call (its ``agent`` is the agent it compacts)."""


@dataclass
class CompactionRecord:
    """One compaction: the summary that stands for an agent's live messages with ids
    ``first_message_id`` .. ``last_message_id`` in every later request.

    ``status`` is ``pending`` (its summarising call not answered yet), ``done``,
    ``failed`` (the call failed; nothing changed) or ``dropped`` (no summary: the
    messages left the model's view, and the user was told).
    """

    id: int
    agent: str
    prompt_id: int | None
    reason: str  # auto, manual, no-compact, failed
    status: str
    first_message_id: int
    last_message_id: int
    at_message_id: int  # the newest message of the transcript when it was made
    pinned_message_id: int | None  # the user message of the turn the kept tail starts in
    previous_id: int | None  # the compaction it builds on (its summary is folded in)
    summary: str | None  # exactly what requests carry in place of the covered messages
    model_call_id: int | None
    tokens_before: int | None
    tokens_after: int | None
    error: str | None
    created_at: str
    finished_at: str | None
    rolled_back_by: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CompactionRecord:
        """Build from a ``compactions`` row."""
        return cls(**row)


@dataclass
class PlanItem:
    """One item of the plan (a row of ``tasks``)."""

    title: str
    status: str

    @property
    def mark(self) -> str:
        """The checkbox of its status: ``[ ]``, ``[>]`` or ``[x]``."""
        return PLAN_MARKS.get(self.status, "[?]")


@dataclass
class FileChange:
    """One change to one file, with content hashes that point into ``blobs``."""

    path: str
    op: str
    source: str
    before_hash: str | None = None
    after_hash: str | None = None
    before_mode: int | None = None
    after_mode: int | None = None
    before_size: int | None = None
    after_size: int | None = None
    restorable: bool = True
    status: str = "applied"
    prompt_id: int | None = None
    tool_call_id: int | None = None
    rollback_id: int | None = None
    id: int | None = None
    created_at: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FileChange:
        """Build from a ``file_changes`` row."""
        return cls(**{**row, "restorable": bool(row["restorable"])})


@dataclass
class Checkpoint:
    """Rollback point N: the state just before prompt N."""

    id: int
    prompt_id: int | None
    last_message_id: int
    created_at: str
    file_count: int | None
    note: str | None
    last_file_change_id: int = 0  # file_changes watermark: changes above it came after N

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Checkpoint:
        """Build from a ``checkpoints`` row."""
        return cls(**row)


@dataclass
class Grant:
    """An "always allow" answer remembered in the session."""

    kind: str
    pattern: str


SCOUT_FINISHED = ("done", "failed")
"""A scout in one of these states has its final word recorded: it is never asked again."""


@dataclass
class ScoutRecord:
    """One scout of a ``scout`` tool call: its agent id, task, and how it ended."""

    id: int
    agent: str
    tool_call_id: int
    call_id: str
    parent_agent: str
    prompt_id: int | None
    position: int
    task: str
    depth: int
    model: str
    status: str  # queued, running, done, failed, interrupted
    report: str | None
    error: str | None
    steps: int
    created_at: str
    started_at: str | None
    finished_at: str | None
    duration_ms: int | None
    rolled_back_by: int | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ScoutRecord:
        """Build from a ``scouts`` row."""
        return cls(**row)

    @property
    def finished(self) -> bool:
        """True once its report (or failure) is recorded for good."""
        return self.status in SCOUT_FINISHED
