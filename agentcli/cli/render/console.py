"""A rich console whose every printed character went through the one cleaner.

Rich passes ESC, C1 controls and bidi overrides in text through to the terminal as they
are. :class:`CleanConsole` cleans the text of every segment it renders
(:func:`~agentcli.cli.render.text.clean`: one character for one, so styles stay where
they were), whatever the renderable — a line, a table, Markdown, a diff — while its own
control segments (cursor moves of a live display) and the styles rich adds stay as rich
made them. Every rich console agentcli prints to is one of these.

Example:
    >>> CleanConsole().print("title\\x1b[2J \\u202eevil")
    title␛[2J ?evil
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions
from rich.segment import Segment

from agentcli.cli.render.text import clean


class CleanConsole(Console):
    """``rich.console.Console`` that renders no control or text-reordering character."""

    def render(self, renderable: Any, options: ConsoleOptions | None = None) -> Iterable[Segment]:
        """The segments rich renders, with their text cleaned (control segments as they are)."""
        for segment in super().render(renderable, options):
            if segment.control is None and segment.text:
                text = clean(segment.text)
                if text != segment.text:
                    segment = Segment(text, segment.style, segment.control)
            yield segment
