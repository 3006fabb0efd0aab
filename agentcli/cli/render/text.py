"""Plain-text rendering for ``list`` and ``log``: aligned tables, no rich import.

``list`` must start fast, and tables piped into ``grep`` or ``awk`` should not wrap,
so these are plain strings.

:func:`clean` is the one cleaner every human-facing line goes through (tables, the
terminal's view, progress and error lines on stderr, doctor's report): text that came
from a model, a tool, a server or a file must not drive the terminal or hide what it
says, so C0 and C1 controls (ESC shows as ␛) and the characters that reorder or hide
text (bidi overrides, embeddings, isolates and marks; zero-width spaces; line and
paragraph separators) become ``?``. Data a command prints (``export``, ``diff``, the
``-p`` answer) is cleaned when it goes to a terminal (:func:`for_terminal`) and left
byte for byte when piped.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import IO, Any

from agentcli.agent.pricing import Pricing, dollars
from agentcli.cli.render.session_view import call_cost, model_call_full, session_status
from agentcli.session.directory import SessionEntry
from agentcli.session.records import Message, ModelCallRecord, SessionMeta

_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u180e\u200b\u200e\u200f\u2028-\u202e"
                     "\u2060-\u206f\ufeff\ufff9-\ufffb]")
"""Controls but tab and newline; bidi marks, embeddings, overrides and isolates; invisible
spaces and separators (the emoji and Persian joiners U+200C/U+200D stay)."""


def clean(text: str) -> str:
    """``text`` made safe to show: controls (ESC shown as ␛) and characters that reorder or
    hide text become ``?``; tabs and newlines stay.

    Example:
        >>> clean("ok\x1b[2J \u202eevil\x9b")
        'ok␛[2J ?evil?'
    """
    return _UNSAFE.sub(lambda m: "\u241b" if m.group() == "\x1b" else "?", text)


def for_terminal(text: str, stream: IO[str]) -> str:
    """``text`` cleaned when ``stream`` is a terminal; as it is when piped or redirected."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return clean(text) if tty else text


def excerpt(text: str | None, limit: int = 120) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis.

    Example:
        >>> excerpt("line one\\nline two", 12)
        'line one ⏎…'
    """
    if not text:
        return ""
    flat = clean(" \u23ce ".join(line.strip() for line in text.strip().splitlines()))
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "\u2026"


def local_time(iso: str | None) -> str:
    """An ISO-8601 UTC stamp as local ``YYYY-MM-DD HH:MM:SS`` ("" when absent)."""
    if not iso:
        return ""
    try:
        stamp = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return stamp.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    """Columns padded to their widest cell; the last column is never padded."""
    right = right or set()
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(cells)
        ]
        padded[-1] = cells[-1].rjust(widths[-1]) if len(cells) - 1 in right else cells[-1]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers)] + [line(r) for r in rows])


def list_text(entries: list[SessionEntry], *, show_workspace: bool, width: int | None = None) -> str:
    """The ``list`` table: one row per session, unreadable files with their error. For a
    terminal narrower than 100 columns (``width``) times drop their year and seconds, so that
    the ids (a fork's parent's too) fit before the title gives way."""
    forks = any(e.meta is not None and e.meta.forked_from for e in entries)
    headers = ["ID", "STATUS", "MODEL", "UPDATED", "MSGS", *(["FORKED FROM"] if forks else []), "TITLE"]
    if show_workspace:
        headers.append("WORKSPACE")
    rows = []
    for entry in entries:
        if entry.meta is None:
            row = [entry.path.stem, "error", "", "", "", *([""] if forks else []), excerpt(entry.error, 200)]
            rows.append(row + ([""] if show_workspace else []))
            continue
        meta = entry.meta
        updated = local_time(meta.updated_at)
        row = [meta.id, session_status(meta, entry.busy), meta.model or "",
               updated[5:16] if width is not None and width < 100 else updated,
               str(entry.messages), *([fork_label(meta)] if forks else []), excerpt(meta.title, 60)]
        rows.append(row + ([clean(meta.workspace_root)] if show_workspace else []))
    return table(headers, rows, right={4})


def fork_label(meta: SessionMeta) -> str:
    """``PARENT@N`` for a fork cut at checkpoint N, ``PARENT`` for a whole fork, "" otherwise."""
    if not meta.forked_from:
        return ""
    return clean(meta.forked_from) + (f"@{meta.forked_at}" if meta.forked_at is not None else "")


def forked_from(meta: SessionMeta) -> dict[str, Any] | None:
    """A fork's link as ``list --json`` gives it: the parent's id and the checkpoint (None: whole)."""
    if not meta.forked_from:
        return None
    return {"session": meta.forked_from, "checkpoint": meta.forked_at}


def entry_json(entry: SessionEntry) -> dict[str, Any]:
    """One ``list --json`` item."""
    meta = entry.meta
    return {
        "id": meta.id if meta else entry.path.stem,
        "path": str(entry.path),
        "title": meta.title if meta else None,
        "status": session_status(meta, entry.busy) if meta else "error",
        "busy": entry.busy,
        "model": meta.model if meta else None,
        "workspace_root": meta.workspace_root if meta else None,
        "created_at": meta.created_at if meta else None,
        "updated_at": meta.updated_at if meta else None,
        "messages": entry.messages if meta else None,
        "forked_from": forked_from(meta) if meta else None,
        "error": entry.error,
    }


def _num(value: int | None) -> str:
    return "" if value is None else str(value)


def log_text(calls: list[ModelCallRecord], totals: dict[str, Any], pricing: Pricing | None = None, *,
             narrow: bool = False) -> str:
    """The ``log`` table (with each attempt's cost when ``pricing`` is given) and its totals line;
    ``narrow`` (a terminal) leaves out the host, the attempt, the HTTP status and the prompt
    and completion counts, and shows the time of day only."""
    headers = ["ID", "TIME", "AGENT", "MODEL", "HOST", "TRY", "STATUS", "HTTP", "MS",
               "PROMPT", "COMPL", "TOTAL", "COST", "ERROR"]
    rows = [
        [str(c.id), local_time(c.started_at), c.agent, c.model, c.endpoint_host, str(c.attempt),
         c.status, _num(c.http_status), _num(c.latency_ms), _num(c.prompt_tokens),
         _num(c.completion_tokens), _num(c.total_tokens),
         dollars(call_cost(c, pricing)) if pricing else "", excerpt(c.error, 80)]
        for c in calls
    ]
    right = {0, 5, 7, 8, 9, 10, 11, 12}
    if narrow:
        keep = [0, 1, 2, 3, 6, 8, 11, 12, 13]
        headers = [headers[i] for i in keep]
        rows = [[r[i][11:] if i == 1 else r[i] for i in keep] for r in rows]
        right = {keep.index(i) for i in right if i in keep}
    body = table(headers, rows, right=right) if rows else "no model calls yet"
    return body + "\n" + totals_line(totals)


def fit_width(text: str, width: int) -> str:
    """Cut every line to ``width`` columns (the last, widest column loses its end), for a terminal."""
    return "\n".join(line if len(line) <= width else line[: width - 1] + "\u2026"
                     for line in text.split("\n"))


def terminal_width() -> int | None:
    """The width of the terminal stdout is, or None when it is piped (output stays whole)."""
    import os
    import sys

    if not sys.stdout.isatty():
        return None
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except OSError:
        return None


def totals_line(totals: dict[str, Any]) -> str:
    """``total: 3 attempts (ok 2, error 1) · tokens 120 prompt + 30 completion = 150 · 900 ms``."""
    outcomes = ", ".join(f"{status} {n}" for status, n in totals["by_status"].items())
    return (
        f"total: {totals['attempts']} attempts" + (f" ({outcomes})" if outcomes else "")
        + f" \u00b7 tokens {totals['prompt_tokens']} prompt + {totals['completion_tokens']} completion"
        + f" = {totals['total_tokens']} \u00b7 {totals['latency_ms']} ms"
        + cost_note(totals)
    )


def cost_note(totals: dict[str, Any]) -> str:
    """`` · $0.0123`` when the cost is known (a model without a price shows tokens only)."""
    if totals.get("cost_usd") is None:
        return ""
    return f" \u00b7 {dollars(totals['cost_usd'])}"


def log_full_text(calls: list[ModelCallRecord], messages: dict[int, Message],
                  summaries: dict[int, str]) -> str:
    """Every attempt with its rebuilt request and its response, as indented JSON."""
    parts = []
    for call in calls:
        full = model_call_full(call, messages, summaries)
        head = (f"=== model call {call.id} \u00b7 {local_time(call.started_at)} \u00b7 {call.model} @ "
                f"{call.endpoint_host} \u00b7 attempt {call.attempt} \u00b7 {call.status}")
        if call.error:
            head += f" \u00b7 {excerpt(call.error, 200)}"
        parts.append(head)
        parts.append("--- request")
        # json.dumps escapes control characters, so this text is safe to print.
        parts.append(json.dumps(full["request"], indent=2, ensure_ascii=False))
        parts.append("--- response")
        response = full["response"]
        parts.append("(none recorded)" if response is None
                     else json.dumps(response, indent=2, ensure_ascii=False))
        parts.append("")
    return "\n".join(parts)

