"""The tables of the terminal's slash commands, fitted to the width they are drawn in.

``/log``, ``/checkpoints`` and ``/status`` are drawn by these pure functions of their
records and a width (:mod:`agentcli.cli.render.fit`): ids, statuses and numbers of
checkpoints are never cut; the error, the prompt, the title give way first, then the
less needed columns are left out. Nothing here reads the session: the commands pass
what ``engine.facts`` gave them.

Example:
    >>> console.print(log_table(engine.facts.model_calls(50), console.width))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from agentcli.cli.render.fit import Column, fit_cells, fit_table
from agentcli.cli.render.text import clean, excerpt, local_time

if TYPE_CHECKING:
    from rich.text import Text

    from agentcli.agent.engine.inspect import Status
    from agentcli.session.records import ModelCallRecord
    from agentcli.session.rollbacks import CheckpointInfo

LOG_COLUMNS = (Column("ID", essential=True, right=True), Column("TIME", drop=0),
               Column("AGENT", cut=True, give=1, drop=3, least=6),
               Column("MODEL", cut=True, give=2, drop=4, least=8), Column("STATUS", essential=True),
               Column("MS", right=True, drop=2), Column("TOKENS", right=True, drop=1),
               Column("ERROR", cut=True, give=0, drop=5, least=10))
ROLLED_BACK = "rolled back"


def log_table(calls: Sequence[ModelCallRecord], width: int) -> Text:
    """The audit log's newest rows: failed attempts in red."""
    rows = [[str(call.id), local_time(call.started_at)[11:], clean(call.agent), clean(call.model),
             call.status, "" if call.latency_ms is None else str(call.latency_ms),
             "" if call.total_tokens is None else str(call.total_tokens), excerpt(call.error, 300)]
            for call in calls]
    styles = [None if call.status in ("ok", "done") else "red" for call in calls]
    return fit_table(LOG_COLUMNS, rows, width, row_styles=styles)


def checkpoints_table(infos: Sequence[CheckpointInfo], width: int) -> Text:
    """One row per checkpoint: when, how many changes its prompt made, the prompt; the rolled
    back ones dim and saying so."""
    columns = [Column("N", essential=True, right=True), Column("created", drop=0),
               Column("changes", right=True, drop=1), Column("prompt", cut=True, drop=2, least=10)]
    rolled = any(info.rolled_back_by for info in infos)
    if rolled:
        columns.insert(3, Column("state", essential=True))
    rows = []
    for info in infos:
        first = info.prompt.strip().splitlines()[0] if info.prompt.strip() else ""
        row = [str(info.id), local_time(info.created_at)[11:], str(info.changes), excerpt(first, 300)]
        if rolled:
            row.insert(3, ROLLED_BACK if info.rolled_back_by else "")
        rows.append(row)
    styles = ["dim" if info.rolled_back_by else None for info in infos]
    return fit_table(columns, rows, width, row_styles=styles)


def status_text(status: Status, footer: str, width: int) -> Text:
    """``/status``: the session's id and title, its file, the footer's facts, the totals. The
    id is never cut (the title gives way); a long path wraps at the width rather than ending
    in "…"."""
    from rich.text import Text

    head = f"session {status.session}"
    room = width - len(head) - 4
    title = fit_cells(clean(status.title or "(untitled)"), room) if room >= 8 else ""
    out = Text(head + (f" · {title}" if title else ""), style="bold")
    lines: list[tuple[str, str]] = [
        (f"file {clean(str(status.path))}", "dim"),
        (footer, ""),
        (f"{status.attempts} model calls · {status.prompt_tokens:,} prompt + "
         f"{status.completion_tokens:,} completion tokens", "dim"),
    ]
    for line, style in lines:
        for piece in _wrapped(line, width - 2):
            out.append("\n  " + piece, style=style)
    return out


def _wrapped(line: str, width: int) -> list[str]:
    """``line`` in pieces of at most ``width`` cells, broken at " · " or spaces when it can."""
    from rich.cells import cell_len

    pieces: list[str] = []
    while cell_len(line) > width:
        cut = _break_at(line, width)
        pieces.append(line[:cut].rstrip())
        line = line[cut:].lstrip(" ·")
    return [*pieces, line]


def _break_at(line: str, width: int) -> int:
    from rich.cells import cell_len

    end = len(line)
    while end > 0 and cell_len(line[:end]) > width:
        end -= 1
    space = line.rfind(" ", 0, end + 1)
    return space if space > width // 2 else max(end, 1)


__all__ = ["checkpoints_table", "log_table", "status_text"]
