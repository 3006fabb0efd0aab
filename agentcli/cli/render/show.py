"""Rich rendering of ``show``: header, plan, transcript with tool calls, totals.

Everything a model or a tool wrote goes through :class:`rich.text.Text` on a console
built with markup and emoji off, so ``[bold]`` or ``:smile:`` in a transcript prints
literally. rich is imported here only, when ``show`` runs.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from rich.console import Console
from rich.text import Text

from agentcli.cli.render.session_view import SessionView, session_status
from agentcli.cli.render.text import clean, cost_note, excerpt, local_time
from agentcli.session.records import (
    ORCHESTRATOR,
    CompactionRecord,
    Message,
    PlanItem,
    ScoutRecord,
    ToolCallRecord,
)

ROLE_STYLES = {"user": "bold cyan", "assistant": "bold green", "tool": "bold yellow", "system": "dim"}
STATUS_STYLES = {"done": "green", "failed": "red", "denied": "magenta", "interrupted": "yellow",
                 "running": "blue"}


def plural(count: int, word: str) -> str:
    """``1 prompt``, ``2 prompts``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def make_console(file: IO[str] | None = None) -> Console:
    """A console that never interprets markup or emoji codes and never re-wraps text."""
    from agentcli.cli.render.console import CleanConsole

    return CleanConsole(file=file or sys.stdout, markup=False, emoji=False, highlight=False,
                        soft_wrap=True)


class ShowRenderer:
    """Draws one session on a console; also used line by line by ``show --follow``.

    Example:
        >>> ShowRenderer(make_console()).session(view)
    """

    def __init__(self, console: Console):
        self.console = console

    def session(self, view: SessionView) -> None:
        """The whole of ``show``: header, plan, transcript, totals."""
        self.header(view)
        self.plan(view.plan)
        self.transcript(view.main_messages(), view.calls_by_message(), view.compactions)
        if view.scouts:
            self.scouts(view.scouts)
            self.console.print(Text(f"(agentcli show {view.meta.id} --scout ID shows a scout's transcript)",
                                    style="dim"))
        self.totals(view.totals())

    def scouts(self, scouts: list[ScoutRecord]) -> None:
        """One line per scout: id, status, steps, time, model, task."""
        self.console.print(Text(f"\n{plural(len(scouts), 'scout')}", style="bold"))
        for scout in scouts:
            line = Text(f"  {scout.agent:<14} ", style="magenta")
            line.append(f"{scout.status:<11}", style=STATUS_STYLES.get(scout.status, ""))
            seconds = f"{scout.duration_ms / 1000:.1f}s" if scout.duration_ms is not None else "-"
            steps = plural(scout.steps, "step")
            line.append(f" {steps:<9} {seconds:>7}  {clean(scout.model)}  ", style="dim")
            line.append(excerpt(scout.task, 80))
            if scout.rolled_back_by is not None:
                line.append(f"  (rolled back by rollback {scout.rolled_back_by})", style="yellow")
            self.console.print(line)

    def scout(self, view: SessionView, scout: ScoutRecord) -> None:
        """One scout: its record, then its whole transcript with its tool calls."""
        self.console.print(Text.assemble(("scout ", "dim"), (scout.agent, "bold magenta"),
                                         f"  of {view.meta.id}"))
        rows = [("task", clean(scout.task)), ("status", scout.status),
                ("steps", str(scout.steps)), ("model", clean(scout.model)),
                ("called by", f"{scout.parent_agent} (tool call {scout.call_id}, prompt {scout.prompt_id})"),
                ("started", local_time(scout.started_at)), ("finished", local_time(scout.finished_at))]
        if scout.error:
            rows.append(("error", clean(scout.error)))
        for name, value in rows:
            self.console.print(Text.assemble((f"  {name:<10}", "dim"), value))
        mine = [m for m in view.messages if m.agent == scout.agent]
        self.transcript(mine, view.calls_by_message())

    def header(self, view: SessionView) -> None:
        """Who the session is: id, title, status, workspace, model, times."""
        meta = view.meta
        shown = session_status(meta, view.busy)
        status = Text(shown, style=STATUS_STYLES.get(shown, "bold"))
        if view.busy:
            status.append(" (a process is driving it)", style="dim")
        title = Text.assemble(("session ", "dim"), (meta.id, "bold"), "  ", clean(meta.title))
        self.console.print(title)
        rows: list[tuple[str, str | Text]] = [
            ("status", status),
            ("workspace", clean(meta.workspace_root)),
            ("model", f"{meta.model or '-'} @ {meta.endpoint_host or '-'}"),
            ("created", local_time(meta.created_at)),
            ("updated", local_time(meta.updated_at)),
            ("schema", f"{meta.schema_version} (agentcli {meta.agentcli_version})"),
        ]
        sandbox = _sandbox_row(meta.settings or {})
        if sandbox is not None:
            rows.insert(3, ("sandbox", sandbox))
        if meta.forked_from:
            at = f" at checkpoint {meta.forked_at}" if meta.forked_at is not None else " (the whole session)"
            rows.insert(1, ("forked", f"forked from {clean(meta.forked_from)}{at}"))
        for name, value in rows:
            self.console.print(Text.assemble((f"  {name:<10}", "dim"), value))

    def plan(self, items: list[PlanItem]) -> None:
        """The current plan, one line per item."""
        if not items:
            return
        self.console.print(Text("\nplan", style="bold"))
        for item in items:
            style = "dim" if item.status == "done" else ("bold" if item.status == "in_progress" else "")
            self.console.print(Text(f"  {item.mark} {clean(item.title)}", style=style))

    def transcript(self, messages: list[Message], calls: dict[int, list[ToolCallRecord]],
                   compactions: list[CompactionRecord] | None = None) -> None:
        """Every message in order, each assistant message followed by its tool calls, and a
        line where each compaction happened."""
        answered = {c.call_id for group in calls.values() for c in group}
        marks = sorted(compactions or [], key=lambda c: (c.at_message_id, c.id))
        for message in messages:
            while marks and marks[0].at_message_id < message.id:
                self.compaction(marks.pop(0))
            self.message(message, calls.get(message.id, []), answered)
        for mark in marks:
            self.compaction(mark)

    def compaction(self, record: CompactionRecord) -> None:
        """A line where the context was compacted: what the model stopped seeing verbatim."""
        span = f"#{record.first_message_id}\u2013#{record.last_message_id}"
        if record.status == "done":
            what = f"compacted: messages {span} summarised"
        elif record.status == "dropped":
            what = f"context full: messages {span} dropped from the model's view without a summary"
        elif record.status == "failed":
            what = f"compaction of messages {span} failed: {clean(record.error or '')}"
        else:
            what = f"compaction of messages {span} pending (its call did not finish)"
        details = [f"compaction {record.id}"]
        if record.model_call_id is not None:
            details.append(f"model call {record.model_call_id}")
        if record.tokens_before is not None:
            details.append(f"~{record.tokens_before} \u2192 {record.tokens_after or '?'} tokens")
        if record.agent != ORCHESTRATOR:
            what = f"[{clean(record.agent)}] {what}"
        line = Text(f"\n\u2500\u2500 {what} ({', '.join(details)})", style="bold magenta")
        if record.rolled_back_by is not None:
            line.append(f"  (rolled back by rollback {record.rolled_back_by})", style="bold yellow")
        self.console.print(line)

    def message(
        self,
        message: Message,
        calls: list[ToolCallRecord],
        answered: set[str],
        *,
        show_requested: bool = True,
    ) -> None:
        """One message. Tool results already shown under their call are not repeated;
        calls the model asked for but nobody journaled are listed if ``show_requested``."""
        if message.role == "tool" and message.tool_call_id in answered:
            return
        rolled_back = message.rolled_back_by is not None
        head = Text("\n")
        if message.agent != ORCHESTRATOR:
            head.append(f"[{clean(message.agent)}] ", style="magenta")
        head.append(message.role, style=ROLE_STYLES.get(message.role, "bold"))
        details = [f"#{message.id}", local_time(message.created_at)]
        if message.prompt_id is not None:
            details.insert(1, f"prompt {message.prompt_id}")
        if message.role == "tool" and message.tool_call_id:
            details.append(f"result of {clean(message.tool_call_id)}")
        if message.is_note:
            details.append(f"written by agentcli after model call {message.model_call_id}")
        head.append("  " + " \u00b7 ".join(details), style="dim")
        if rolled_back:
            head.append(f"  (rolled back by rollback {message.rolled_back_by})", style="bold yellow")
        self.console.print(head)
        style = "dim" if rolled_back else ""
        if message.role == "system":
            # The same long instructions open every session: one line is enough here.
            lines = message.content.strip().splitlines()
            self.console.print(Text(f"system prompt, {len(lines)} lines "
                                    "(agentcli export shows it whole)", style="dim"))
        elif message.content:
            self.console.print(Text(clean(message.content), style=style))
        if calls:
            for call in calls:
                self.tool_call(call, dim=rolled_back)
        elif show_requested:
            for requested in message.tool_calls or []:
                self.requested_call(requested)

    def requested_call(self, requested: dict[str, Any]) -> None:
        """A call the model asked for that is not journaled (yet)."""
        function = requested.get("function") or {}
        line = Text("  \u25b8 ", style="dim")
        line.append(clean(str(function.get("name", "?"))), style="bold")
        line.append(" " + excerpt(str(function.get("arguments", "")), 100))
        line.append("  not started", style="dim")
        self.console.print(line)

    def tool_call(self, call: ToolCallRecord, *, dim: bool = False) -> None:
        """A journaled call: name, arguments, status, duration, and a result excerpt."""
        line = Text("  \u25b8 ", style="dim")
        if call.agent != ORCHESTRATOR:
            line.append(f"[{clean(call.agent)}] ", style="magenta")
        line.append(clean(call.name), style="bold")
        line.append(" " + excerpt(call.summary or call.arguments, 100))
        line.append("  ")
        line.append(call.status, style=STATUS_STYLES.get(call.status, ""))
        if call.duration_ms is not None:
            line.append(f" \u00b7 {call.duration_ms} ms", style="dim")
        if call.approval:
            line.append(f" \u00b7 {clean(call.approval)}", style="dim")
        if call.unsandboxed:
            line.append(f" \u00b7 unsandboxed ({call.sandbox})", style="bold yellow")
        if dim:
            line.stylize("dim")
        self.console.print(line)
        if call.result:
            result = Text("    \u21b3 " + excerpt(call.result, 160), style="red" if call.is_error else "dim")
            self.console.print(result)

    def totals(self, totals: dict[str, Any]) -> None:
        """The closing line: messages, tool calls by status, model attempts and tokens."""
        by_status = ", ".join(f"{s} {n}" for s, n in totals["tool_calls_by_status"].items())
        text = (
            f"\n{plural(totals['prompts'], 'prompt')} \u00b7 {plural(totals['messages'], 'message')}"
            + (f" ({totals['rolled_back_messages']} rolled back)" if totals["rolled_back_messages"] else "")
            + f" \u00b7 {plural(totals['tool_calls'], 'tool call')}"
            + (f" ({by_status})" if by_status else "")
            + f" \u00b7 {plural(totals['model_call_attempts'], 'model call')}"
            + f" \u00b7 {totals['total_tokens']} tokens"
            + f" ({totals['prompt_tokens']} prompt, {totals['completion_tokens']} completion)"
            + cost_note(totals)
        )
        self.console.print(Text(text, style="dim"))

    def note(self, text: str) -> None:
        """A line about the display itself (``following...``), not session content."""
        self.console.print(Text(text, style="dim italic"))


def _sandbox_row(settings: dict[str, Any]) -> str | Text | None:
    """The sandbox the session's commands run in, as its settings remember it (None: an older
    session that recorded none)."""
    mode = settings.get("sandbox")
    if mode is None:
        return None
    if mode == "off":
        return Text("OFF: shell commands run unconfined (--sandbox off)", style="bold yellow")
    return f"{mode}, network {'on' if settings.get('network') else 'off'}"
