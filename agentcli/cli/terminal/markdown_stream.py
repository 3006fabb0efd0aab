"""Streamed answer text, printed as Markdown one finished block at a time.

A block is finished at a blank line outside a code fence: printing it then never
needs a redraw, so the answer scrolls like any output and stays in the scrollback.
What is left at the end (or when the turn is stopped) is printed as it stands. Blocks
of one answer are separated by one blank line (each is drawn without blank lines of its
own at either end: :class:`~agentcli.cli.terminal.answer_markdown.AnswerMarkdown`).

Example:
    >>> stream = MarkdownStream(console)
    >>> stream.feed("# Title\\n\\nSome *text*")   # prints the heading
    >>> stream.flush()                            # prints the paragraph
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from agentcli.cli.render.text import clean

if TYPE_CHECKING:
    from rich.console import Console

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def print_markdown(console: Console, text: str) -> None:
    """Print ``text`` as an answer's Markdown: code highlighted on the terminal's own
    background, links shown, no markup; ``#`` and backticks kept when there is no colour."""
    from agentcli.cli.terminal.answer_markdown import ANSWER_THEME, AnswerMarkdown, plain_console

    with console.use_theme(ANSWER_THEME):
        console.print(AnswerMarkdown(text, plain=plain_console(console)))


def safe(text: str) -> str:
    """Model text made safe to print: line ends normalised, control characters cleaned."""
    return clean(text.replace("\r\n", "\n").replace("\r", "\n"))


class MarkdownStream:
    """Collects streamed text; prints each finished Markdown block as it completes."""

    def __init__(self, console: Console):
        self.console = console
        self._pending = ""
        self.printed_any = False
        self.gap_first = False  # a blank line before the first block too (tool lines came before)

    @property
    def pending(self) -> str:
        """Text received but not printed yet (the block being written)."""
        return self._pending

    def feed(self, text: str) -> None:
        """Take more text; print the blocks it finishes."""
        self._pending += safe(text)
        cut = _last_block_end(self._pending)
        if cut:
            self._print(self._pending[:cut])
            self._pending = self._pending[cut:]

    def flush(self, *, note: str = "") -> None:
        """Print whatever is left (at the end of a message, or when the turn stops)."""
        text, self._pending = self._pending, ""
        if text.strip():
            self._print(text)
        if note:
            self.console.print(note, style="yellow", markup=False, highlight=False)

    def _print(self, text: str) -> None:
        if not text.strip():
            return
        if self.printed_any or self.gap_first:
            self.console.print()  # the blank line between two blocks of one answer
        self.gap_first = False
        print_markdown(self.console, text)
        self.printed_any = True


def _last_block_end(text: str) -> int:
    """Where the last finished block ends: just after a blank line outside any fence."""
    fence: str | None = None
    end, offset = 0, 0
    lines = text.split("\n")
    for index, line in enumerate(lines[:-1]):  # the last piece has no newline yet
        offset += len(line) + 1
        opened = _FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)[0] * 3
        elif fence is not None and line.strip().startswith(fence):
            fence = None
            end = offset  # a closed fence ends a block by itself
        elif fence is None and not line.strip() and index > 0:
            end = offset
    return end
