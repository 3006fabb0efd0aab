"""``export --format md``: the whole session as one Markdown document.

Free text (prompts, tool arguments and results, system and user messages) goes into
fenced blocks whose fence is longer than any run of backticks inside, so a transcript
that itself contains Markdown cannot break the document. The model's answers are
Markdown already: they are shown as written, with their headings pushed below the
transcript's (``# Summary`` becomes ``#### Summary``), so the document keeps one outline.
Table cells are escaped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from agentcli.cli.render.session_view import SessionView
from agentcli.cli.render.text import cost_note
from agentcli.session.records import ORCHESTRATOR, Message, ToolCallRecord


def fenced(text: str, lang: str = "") -> str:
    """``text`` in a code fence that no backtick run inside can close.

    Example:
        >>> fenced("a ``` b")
        '````\\na ``` b\\n````'
    """
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip(chr(10))}\n{fence}"


def cell(value: Any) -> str:
    """A value as one Markdown table cell: one line, pipes escaped."""
    text = "" if value is None else str(value)
    return " ".join(text.split()).replace("|", "\\|")


def md_table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


_HEADING = re.compile(r"^( {0,3})(#{1,6})(?=\s|$)")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def nest_headings(text: str, under: int) -> str:
    """Markdown ``text`` with its ATX headings pushed below level ``under`` (``# Plan`` under
    a level-3 heading becomes ``#### Plan``), so an answer's own outline nests inside the
    transcript's. Past level 6 a heading becomes a bold line. Code blocks are left alone.

    Example:
        >>> nest_headings("# Summary\nDone.", 3)
        '#### Summary\nDone.'
    """
    out, fence = [], ""
    for line in text.splitlines():
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
        elif opened:
            fence = opened.group(1)
        elif heading := _HEADING.match(line):
            level = len(heading.group(2)) + under
            title = line[heading.end():].strip().rstrip("#").strip()
            line = f"{'#' * level} {title}" if level <= 6 else f"**{title}**"
        out.append(line)
    if fence:  # an answer's unclosed code block must not swallow the rest of the document
        out.append(fence)
    return "\n".join(out)


def _pretty_arguments(arguments: str) -> tuple[str, str]:
    try:
        return json.dumps(json.loads(arguments), indent=2, ensure_ascii=False), "json"
    except ValueError:
        return arguments, ""


def _message(message: Message, calls: list[ToolCallRecord]) -> list[str]:
    who = message.role if message.agent == ORCHESTRATOR else f"{message.agent} \u00b7 {message.role}"
    head = f"### #{message.id} {who}"
    notes = [message.created_at] + ([f"prompt {message.prompt_id}"] if message.prompt_id else [])
    if message.tool_call_id:
        notes.append(f"result of `{message.tool_call_id}`")
    if message.is_note:
        notes.append(f"written by agentcli after model call {message.model_call_id}")
    if message.rolled_back_by is not None:
        notes.append(f"**rolled back** by rollback {message.rolled_back_by}")
    out = [head, "", "*" + " \u00b7 ".join(notes) + "*", ""]
    if message.content and message.role == "assistant":
        # the model writes Markdown: shown as such, its headings nested under this message's
        out += [nest_headings(message.content.strip("\n"), under=3), ""]
    elif message.content:
        out += [fenced(message.content, "text"), ""]
    for call in calls:
        arguments, lang = _pretty_arguments(call.arguments)
        timing = f", {call.duration_ms} ms" if call.duration_ms is not None else ""
        server = f", MCP server `{call.server}`" if getattr(call, "server", None) else ""
        out += [f"**Tool call** `{call.name}` (`{call.call_id}`): **{call.status}**{timing}{server}", "",
                fenced(arguments, lang), ""]
        if call.result is not None:
            label = "Result (error):" if call.is_error else "Result:"
            out += [label, "", fenced(call.result, "text"), ""]
    if not calls:
        for requested in message.tool_calls or []:
            function = requested.get("function") or {}
            out += [f"**Tool call requested** `{function.get('name', '?')}` (not journaled)", "",
                    fenced(str(function.get("arguments", "")), "json"), ""]
    return out


def export_markdown(view: SessionView) -> str:
    """Render every table of the session (blob contents aside) as Markdown."""
    meta = view.meta
    out = [f"# agentcli session {meta.id}", ""]
    if meta.title:
        out += [f"**{cell(meta.title)}**", ""]
    meta_rows = [[k, v] for k, v in vars(meta).items() if k != "settings"]
    meta_rows.append(["settings", json.dumps(meta.settings, ensure_ascii=False)])
    meta_rows.append(["busy", view.busy])
    out += ["## Meta", "", md_table(["field", "value"], meta_rows), ""]

    out += ["## Plan", ""]
    out += [f"- {i.mark} {cell(i.title)}" for i in view.plan] or ["(no plan)"]
    out += [""]

    out += ["## Prompts", ""]
    for prompt in view.prompts:
        state = prompt.status + (f", rolled back by rollback {prompt.rolled_back_by}"
                                 if prompt.rolled_back_by is not None else "")
        out += [f"### Prompt {prompt.id} ({state})", "", f"*{prompt.created_at} \u00b7 {prompt.source}*", "",
                fenced(prompt.text, "text"), ""]
        if prompt.error:
            out += [f"Error: {cell(prompt.error)}", ""]
    if not view.prompts:
        out += ["(no prompts)", ""]

    out += ["## Transcript", ""]
    by_message = view.calls_by_message()
    answered = {c.call_id for c in view.tool_calls}
    for message in view.messages:
        if message.role == "tool" and message.tool_call_id in answered:
            continue  # its text is the result shown under its call
        out += _message(message, by_message.get(message.id, []))

    if view.scouts:
        out += ["## Scouts", "", md_table(
            ["scout", "called by", "prompt", "task", "model", "status", "steps", "ms", "error"],
            [[s.agent, f"{s.parent_agent} ({s.call_id})", s.prompt_id, s.task, s.model, s.status, s.steps,
              s.duration_ms, s.error] for s in view.scouts],
        ), "", "Each scout's messages are in the transcript above, under its name.", ""]

    calls = view.model_calls
    out += ["## Model calls", "", md_table(
        ["id", "started", "agent", "model", "host", "attempt", "status", "http", "latency ms",
         "prompt tok", "completion tok", "total tok", "error"],
        [[c.id, c.started_at, c.agent, c.model, c.endpoint_host, c.attempt, c.status, c.http_status,
          c.latency_ms, c.prompt_tokens, c.completion_tokens, c.total_tokens, c.error] for c in calls],
    ), ""]
    totals = view.audit_totals
    out += [f"Totals: {totals['attempts']} attempts, {totals['total_tokens']} tokens "
            f"({totals['prompt_tokens']} prompt, {totals['completion_tokens']} completion), "
            f"{totals['latency_ms']} ms" + cost_note(totals).replace(" \u00b7 ", ", ") + ".", ""]

    out += ["## File changes", "", md_table(
        ["id", "prompt", "tool call", "source", "path", "op", "before", "after", "status", "time"],
        [[f.id, f.prompt_id, f.tool_call_id, f.source, f.path, f.op, (f.before_hash or "")[:12],
          (f.after_hash or "")[:12], f.status, f.created_at] for f in view.file_changes],
    ), ""]
    out += ["## Checkpoints", "", md_table(
        ["n", "prompt", "last message", "files", "time", "note"],
        [[c.id, c.prompt_id, c.last_message_id, c.file_count, c.created_at, c.note]
         for c in view.checkpoints],
    ), ""]
    if view.grants:
        out += ["## Approvals remembered", "",
                md_table(["kind", "pattern"], [[g.kind, g.pattern] for g in view.grants]), ""]
    total = view.totals()
    out += ["## Totals", "", md_table(["what", "count"], [[k, v] for k, v in total.items()]), ""]
    return "\n".join(out)
