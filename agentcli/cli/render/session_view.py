"""Everything a read-only command shows, read from a session into plain data.

``show``, ``log`` and ``export`` share one loader and one JSON shape, so the text,
Markdown and JSON outputs never disagree about what a session holds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from agentcli.session.mcp_tools import ToolListRecord
from agentcli.session.records import (
    Checkpoint,
    CompactionRecord,
    FileChange,
    Grant,
    Message,
    ModelCallRecord,
    PlanItem,
    Prompt,
    ScoutRecord,
    SessionMeta,
    ToolCallRecord,
)
from agentcli.session.session import Session

if TYPE_CHECKING:
    from agentcli.agent.pricing import Pricing

EXPORT_FORMAT = "agentcli-session-export"
EXPORT_VERSION = 1


@dataclass
class SessionView:
    """A snapshot of one session's rows, as dataclasses."""

    meta: SessionMeta
    busy: bool
    plan: list[PlanItem]
    prompts: list[Prompt]
    messages: list[Message]
    tool_calls: list[ToolCallRecord]
    audit_totals: dict[str, Any]
    model_calls: list[ModelCallRecord] = field(default_factory=list)
    file_changes: list[FileChange] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    scouts: list[ScoutRecord] = field(default_factory=list)
    compactions: list[CompactionRecord] = field(default_factory=list)
    mcp_tools: list[ToolListRecord] = field(default_factory=list)  # the MCP tool lists it saw

    def main_messages(self) -> list[Message]:
        """The messages of the orchestrator (and any agent that is not a scout)."""
        names = {s.agent for s in self.scouts}
        return [m for m in self.messages if m.agent not in names]

    def calls_by_message(self) -> dict[int, list[ToolCallRecord]]:
        """Journaled tool calls grouped under the assistant message that asked for them."""
        grouped: dict[int, list[ToolCallRecord]] = {}
        for call in self.tool_calls:
            grouped.setdefault(call.message_id, []).append(call)
        for calls in grouped.values():
            calls.sort(key=lambda c: c.position)
        return grouped

    def totals(self) -> dict[str, Any]:
        """Counts and sums over the whole session."""
        statuses = Counter(call.status for call in self.tool_calls)
        return {
            "prompts": len(self.prompts),
            "messages": len(self.messages),
            "rolled_back_messages": sum(1 for m in self.messages if m.rolled_back_by is not None),
            "tool_calls": len(self.tool_calls),
            "tool_calls_by_status": dict(sorted(statuses.items())),
            "model_call_attempts": self.audit_totals["attempts"],
            "prompt_tokens": self.audit_totals["prompt_tokens"],
            "completion_tokens": self.audit_totals["completion_tokens"],
            "total_tokens": self.audit_totals["total_tokens"],
            "cost_usd": self.audit_totals.get("cost_usd"),
            "model_latency_ms": self.audit_totals["latency_ms"],
        }


def load_view(session: Session, *, busy: bool, everything: bool = False) -> SessionView:
    """Read a session; ``everything`` adds the audit log, file log, checkpoints and grants."""
    view = SessionView(
        meta=session.meta(),
        busy=busy,
        plan=session.plan.current(),
        prompts=session.prompts.all(),
        messages=session.transcript.all(),
        tool_calls=session.tool_calls.all(),
        audit_totals=audit_totals(session),
        scouts=session.scouts.all(),
        compactions=session.compactions.all(),
    )
    if everything:
        view.model_calls = session.model_calls.all()
        view.file_changes = session.files.all()
        view.checkpoints = session.checkpoints.all()
        view.grants = session.grants.all()
        view.mcp_tools = session.mcp_tools.all()
    return view


def scout_json(view: SessionView, scout: ScoutRecord) -> dict[str, Any]:
    """One scout's row with its whole transcript and tool calls (``show --scout ID --json``)."""
    return {
        "scout": asdict(scout),
        "messages": [asdict(m) for m in view.messages if m.agent == scout.agent],
        "tool_calls": [asdict(c) for c in view.tool_calls if c.agent == scout.agent],
    }


def audit_totals(session: Session) -> dict[str, Any]:
    """The audit log's totals with their cost in dollars (``cost_usd``: None when unknown)."""
    from agentcli.agent.config import configured_pricing
    from agentcli.agent.pricing import session_cost

    totals = session.model_calls.totals()
    totals["cost_usd"] = session_cost(session, configured_pricing(session.meta().workspace_root))
    return totals


def rebuild_request(call: ModelCallRecord, messages: dict[int, Message],
                    summaries: dict[int, str]) -> dict[str, Any]:
    """The request body as it was sent: the stored body plus its messages, in the order and
    shape the client sent them (so its JSON is the request's, byte for byte).

    A turn's messages are transcript rows, sent as the context builder shaped them
    (``call.request_shape``): the summary of ``call.compaction_id`` (``summaries``:
    compaction id to summary) in its own user message (id 0; in shape 1, appended to the
    system message), and tool results — in shape 2 also a made call's arguments — longer
    than ``call.tool_result_chars`` trimmed. A summarising call's messages are stored as
    sent. A message id the transcript no longer holds (it never should) is shown as a
    placeholder rather than silently dropped.
    """
    from agentcli.agent.context import summary_section, summary_text, trim_calls, trim_tool_result
    from agentcli.agent.model.wire import with_messages

    body = dict(call.request)
    if "messages" in body:  # kept as sent
        return with_messages(body, body.pop("messages"))
    summary = summaries.get(call.compaction_id) if call.purpose == "turn" and call.compaction_id else None
    limit = call.tool_result_chars
    shaped = call.request_shape >= 2
    rebuilt = []
    for position, message_id in enumerate(call.request_message_ids):
        if message_id == 0 and summary and shaped:
            rebuilt.append({"role": "user", "content": summary_text(summary)})
            continue
        if message_id == 0 and position == 0 and summary:  # a system message of the summary alone
            rebuilt.append({"role": "system", "content": summary_section(summary)})
            continue
        message = messages.get(message_id)
        if message is None:
            rebuilt.append({"role": "missing", "content": f"<message {message_id} not in transcript>"})
            continue
        if limit and shaped and message.tool_calls:
            message = trim_calls(message, limit)
        sent = message.to_api()
        if position == 0 and summary and message.role == "system" and not shaped:
            sent["content"] += summary_section(summary)
        elif limit and message.role == "tool" and len(message.content) > limit:
            sent["content"] = trim_tool_result(message.content, limit)
        rebuilt.append(sent)
    return with_messages(body, rebuilt)


def summaries_of(compactions: list[CompactionRecord]) -> dict[int, str]:
    """Compaction id to summary, for :func:`rebuild_request`."""
    return {c.id: c.summary for c in compactions if c.summary}


def model_call_summary(call: ModelCallRecord, pricing: Pricing | None = None) -> dict[str, Any]:
    """One audit-log row without its request and response bodies (with ``cost_usd`` when
    ``pricing`` is given)."""
    row = asdict(call)
    for name in ("request", "request_message_ids", "response"):
        row.pop(name)
    if pricing is not None:
        row["cost_usd"] = call_cost(call, pricing)
    return row


def call_cost(call: ModelCallRecord, pricing: Pricing) -> float | None:
    """What one attempt cost, in dollars (None: unknown price, or no usage reported)."""
    if call.prompt_tokens is None and call.completion_tokens is None:
        return None
    return pricing.cost(call.model, prompt_tokens=call.prompt_tokens,
                        completion_tokens=call.completion_tokens,
                        cached_tokens=getattr(call, "cached_tokens", None))


def model_call_full(call: ModelCallRecord, messages: dict[int, Message], summaries: dict[int, str],
                    pricing: Pricing | None = None) -> dict[str, Any]:
    """One audit-log row with the rebuilt request (see :func:`rebuild_request`) and the
    stored response."""
    row = model_call_summary(call, pricing)
    row["request_message_ids"] = call.request_message_ids
    row["request"] = rebuild_request(call, messages, summaries)
    row["response"] = call.response
    return row


def show_json(view: SessionView) -> dict[str, Any]:
    """The JSON document ``show --json`` prints."""
    return {
        "meta": asdict(view.meta),
        "status": _status(view),
        "busy": view.busy,
        "plan": [asdict(item) for item in view.plan],
        "prompts": [asdict(p) for p in view.prompts],
        "messages": [asdict(m) for m in view.messages],
        "tool_calls": [asdict(c) for c in view.tool_calls],
        "scouts": [asdict(s) for s in view.scouts],
        "compactions": [asdict(c) for c in view.compactions],
        "totals": view.totals(),
    }


def session_status(meta: SessionMeta, busy: bool) -> str:
    """What to call a session now (:meth:`SessionMeta.status_now`)."""
    return meta.status_now(busy)


def _status(view: SessionView) -> str:
    return session_status(view.meta, view.busy)


def export_json(view: SessionView) -> dict[str, Any]:
    """The JSON document ``export --format json`` writes: every table but blob contents."""
    messages = {m.id: m for m in view.messages}
    summaries = summaries_of(view.compactions)
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_VERSION,
        **show_json(view),
        "model_calls": [model_call_full(c, messages, summaries) for c in view.model_calls],
        "file_changes": [asdict(c) for c in view.file_changes],
        "checkpoints": [asdict(c) for c in view.checkpoints],
        "approvals": [asdict(g) for g in view.grants],
        "mcp_tools": [asdict(t) for t in view.mcp_tools],
    }


