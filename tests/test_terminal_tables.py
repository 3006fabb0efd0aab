"""Every table the terminal draws fits its width, 40 to 200 columns, ids and statuses whole."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from agentcli.agent.engine.inspect import Status
from agentcli.cli.render.fit import Column, fit_table, fit_widths
from agentcli.cli.render.scouts import ScoutBoard
from agentcli.cli.terminal.tables import checkpoints_table, log_table, status_text
from agentcli.session.records import ModelCallRecord
from agentcli.session.rollbacks import CheckpointInfo

WIDTHS = st.integers(min_value=40, max_value=200)
# what models, tools and people write: long words, spaces, wide CJK characters, emoji
TEXT = st.text(st.sampled_from(list("abcdefghij klmnop/._-") + ["宽", "字", "🙂", "é"]), max_size=140)
STATUSES = ("ok", "error", "interrupted", "pending")
SCOUT_STATUSES = ("queued", "running", "done", "failed", "interrupted")


def _fits(table, width: int) -> list[str]:
    lines = table.plain.splitlines()
    assert all(cell_len(line) <= width for line in lines), "\n".join(lines)
    return lines


def _call(number: int, status: str, agent: str, model: str, error: str) -> ModelCallRecord:
    return ModelCallRecord(number, agent, 1, 0, model, "127.0.0.1", {}, [], None, status, error or None, None,
                           1234, 10, 5, 15, "2025-01-02T03:04:05Z", None)


@settings(max_examples=150, deadline=None)
@given(WIDTHS, st.lists(st.tuples(st.sampled_from(STATUSES), TEXT, TEXT, TEXT), min_size=1, max_size=6))
def test_the_log_fits_and_keeps_every_id_and_status(width: int, calls: list) -> None:
    records = [_call(1000 + n, status, agent or "orchestrator", model or "m", error)
               for n, (status, agent, model, error) in enumerate(calls)]
    lines = _fits(log_table(records, width), width)
    assert lines[0].split()[0] == "ID" and "STATUS" in lines[0]
    for record, line in zip(records, lines[1:]):
        words = line.split()
        assert words[0] == str(record.id) and record.status in words, line


@settings(max_examples=150, deadline=None)
@given(WIDTHS, st.lists(st.tuples(TEXT, st.booleans(), st.integers(0, 99999)), min_size=1, max_size=6))
def test_checkpoints_fit_and_keep_every_number_and_rolled_back_state(width: int, points: list) -> None:
    infos = [CheckpointInfo(n, n, prompt, "2025-01-02T03:04:05Z", 3, changes, 7 if rolled else None)
             for n, (prompt, rolled, changes) in enumerate(points, 1)]
    lines = _fits(checkpoints_table(infos, width), width)
    for info, line in zip(infos, lines[1:]):
        assert line.split()[0] == str(info.id)
        assert ("rolled back" in line) == bool(info.rolled_back_by), line


@settings(max_examples=150, deadline=None)
@given(WIDTHS, st.lists(st.tuples(TEXT, TEXT, st.sampled_from(SCOUT_STATUSES), st.integers(0, 999)),
                        min_size=1, max_size=12))
def test_the_scout_table_fits_and_keeps_every_scout_id_and_status(width: int, scouts: list) -> None:
    from io import StringIO

    from rich.console import Console

    board = ScoutBoard(Console(file=StringIO(), width=width), live=False, quiet=True)
    ids = [f"scout-{100 + n}-{n + 1}" for n in range(len(scouts))]
    started = [{"id": scout_id, "task": task} for scout_id, (task, *_) in zip(ids, scouts)]
    board.on_event("scouts.started", {"scouts": started})
    for scout_id, (task, activity, status, steps) in zip(ids, scouts):
        board.on_event("scout.started", {"id": scout_id, "task": task})
        board.on_event("scout.progress", {"id": scout_id, "steps": steps, "activity": activity})
        if status not in ("running", "queued"):
            board.on_event("scout.finished", {"id": scout_id, "task": task, "status": status, "steps": steps,
                                              "duration_ms": 1500})
    for limit in (None, 10):
        lines = _fits(board.table(width, indent=2, limit=limit), width)
        for line in lines[1:]:
            if line.strip().startswith("…"):
                continue
            words = line.split()
            assert words[0].startswith("scout-") or words[1].startswith("scout-"), line
            assert any(word in SCOUT_STATUSES for word in words), line


@settings(max_examples=100, deadline=None)
@given(WIDTHS, TEXT, TEXT)
def test_status_fits_and_keeps_the_session_id(width: int, title: str, folder: str) -> None:
    status = Status("1m91dfytybchq", Path("/home/user") / (folder or "x") / "s.sqlite", title, "gpt-4o-mini",
                    "ask", 128000, 1234, 1000, 234, 3, 0, 0.0012)
    footer = "gpt-4o-mini · ask · 1,234 tokens · 99% context left · $0.0012"
    lines = _fits(status_text(status, footer, width), width)
    assert lines[0].startswith("session 1m91dfytybchq")


def test_the_task_column_gives_way_first_then_whole_columns_go() -> None:
    columns = [Column("#", drop=0), Column("scout", essential=True),
               Column("task", cut=True, give=0, drop=2, least=12), Column("status", essential=True),
               Column("doing", cut=True, give=1, drop=1, least=10)]
    natural = [2, 9, 60, 11, 30]
    assert fit_widths(columns, natural, 200) == natural
    assert fit_widths(columns, natural, 80) == [2, 9, 24, 11, 30]  # the task alone gave way
    assert fit_widths(columns, natural, 50) == [2, 9, 12, 11, 12]  # then what each is doing
    assert fit_widths(columns, natural, 45) == [None, 9, 12, 11, 10]  # then the least needed column
    assert fit_widths(columns, natural, 40) == [None, 9, 18, 11, None]  # the task has the room again
    assert fit_widths(columns, natural, 10) == [None, 9, None, 11, None]  # ids and statuses stay whole


def test_cells_are_cut_by_width_in_cells_with_an_ellipsis() -> None:
    table = fit_table([Column("id", essential=True), Column("text", cut=True, least=5)],
                      [["a1", "宽宽宽宽宽宽宽宽宽宽"]], 12)
    assert table.plain.splitlines()[1] == "a1 宽宽宽宽…"
