"""The model's answer as the terminal prints it: Markdown blocks streamed in any pieces."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentcli.cli.terminal.markdown_stream import MarkdownStream

ANSWER = ("# Title\n\nSome *text* with `code` in it.\n\n## Steps\n\n3. third\n4. fourth\n\n- a\n- b\n\n"
          "```python\nx = 1\n```\n\nAfter the code.\n\n> a quote\n\n"
          "| a | b |\n|---|---|\n| 1 | 2 |\n\nEnd.\n")


def _printed(pieces: list[str], *, colour: bool) -> str:
    out = io.StringIO()
    from rich.console import Console

    console = Console(file=out, width=80, force_terminal=colour, color_system="truecolor" if colour else None)
    stream = MarkdownStream(console)
    for piece in pieces:
        stream.feed(piece)
    stream.flush()
    return out.getvalue()


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in re.sub(r"\x1b\[[0-9;]*m", "", text).splitlines()]


def _cuts(text: str, points: list[int]) -> list[str]:
    points = sorted({p % (len(text) + 1) for p in points})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)])]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0), max_size=30))
def test_blocks_are_one_blank_line_apart_however_the_answer_streams(points: list[int]) -> None:
    lines = _lines(_printed(_cuts(ANSWER, points), colour=False))
    assert lines == _lines(_printed([ANSWER], colour=False))  # the same, whatever the pieces
    assert lines[0] == "# Title" and lines[-1] == "End."
    for above, below in zip(lines, lines[1:]):
        assert above or below, f"two blank lines in a row:\n{chr(10).join(lines)}"


def test_ordered_lists_keep_their_numbers_with_a_dot() -> None:
    lines = _lines(_printed([ANSWER], colour=True))
    assert " 3. third" in lines and " 4. fourth" in lines
    assert "10. ten" in " ".join(_lines(_printed(["9. nine\n10. ten\n"], colour=True)))


def test_without_colour_headings_keep_their_marks_and_code_its_backticks(monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True)  # a real terminal, NO_COLOR set
    stream = MarkdownStream(console)
    stream.feed(ANSWER)
    stream.flush()
    lines = _lines(out.getvalue())
    assert "# Title" in lines and "## Steps" in lines
    assert "Some text with `code` in it." in lines
    assert "```python" in lines and "x = 1" in lines


def test_with_colour_code_has_the_terminals_own_background_and_headings_no_marks() -> None:
    text = _printed([ANSWER], colour=True)
    backgrounds = re.findall(r"\x1b\[([0-9;]*)m", text)
    for codes in backgrounds:
        parts = codes.split(";")
        assert not any(p in ("40", "100") or p == "48" for p in parts), f"a background colour: {codes}"
    lines = _lines(text)
    assert "Title" in lines and "# Title" not in lines and "Some text with code in it." in lines


@pytest.mark.parametrize("width", [40, 80, 120])
def test_no_line_is_wider_than_the_terminal(width: int) -> None:
    from rich.console import Console

    out = io.StringIO()
    stream = MarkdownStream(Console(file=out, width=width, color_system=None))
    stream.feed(ANSWER + "\n" + "a long line of words " * 20 + "\n")
    stream.flush()
    assert all(len(line) <= width for line in out.getvalue().splitlines())
