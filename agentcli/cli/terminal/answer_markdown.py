"""The model's answers as Markdown in a terminal: rich's renderer, with the habits of a reader.

rich's own :class:`rich.markdown.Markdown` centres the first heading, numbers an ordered
list ``1 first`` (no dot), paints inline code and code blocks on a black background
(unreadable on a light terminal) and, without colour, leaves nothing to tell a heading or
inline code from the words around them. :class:`AnswerMarkdown` keeps rich's parser and
the other elements and changes those: headings start at the left margin, ordered items
read ``1. first``, code has the terminal's own background and, when there is no colour
(``NO_COLOR``, or a terminal without colours), headings keep their ``#`` marks, inline
code its backticks and a code block its fences. Leading and trailing blank lines are
dropped, so a block is separated from the next by exactly the one blank line its printer
puts between them.

Example:
    >>> console.print(AnswerMarkdown("## Steps\\n\\n1. one\\n2. two", plain=True))
    ## Steps
    <BLANKLINE>
     1. one
     2. two
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.markdown import CodeBlock, Heading, ListItem, Markdown, MarkdownElement, TableElement
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax
from rich.text import Text
from rich.theme import Theme

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

CODE_THEME = "ansi_dark"  # the terminal's own colours: readable on dark and light schemes
CODE_INDENT = 2
# Styles the answer's Markdown uses in place of rich's defaults: no background anywhere.
ANSWER_THEME = Theme({
    "markdown.code": Style(bold=True, color="cyan"),
    "markdown.code_block": Style(),
    "markdown.h1": Style(bold=True, underline=True),
    "markdown.h2": Style(bold=True),
    "markdown.h3": Style(bold=True, italic=True),
    "markdown.h4": Style(italic=True),
    "markdown.h5": Style(italic=True),
    "markdown.h6": Style(italic=True, dim=True),
    "markdown.item.number": Style(),
}, inherit=True)


def plain_console(console: Console) -> bool:
    """Whether ``console`` draws no colour (``NO_COLOR``, or no colour system at all)."""
    return bool(console.no_color or console.color_system is None)


class _Heading(Heading):
    """A heading at the left margin; ``## Title`` keeps its marks when there is no colour."""

    @classmethod
    def create(cls, markdown: Markdown, token: Any) -> _Heading:
        heading = cls(token.tag)
        heading.marks = "#" * int(token.tag[1:]) + " " if getattr(markdown, "plain", False) else ""
        return heading

    def on_enter(self, context: Any) -> None:
        super().on_enter(context)
        if getattr(self, "marks", ""):
            self.text.append(self.marks)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = self.text.copy()
        text.justify = "left"
        yield text


class _CodeBlock(CodeBlock):
    """Code on the terminal's own background, indented; fenced when there is no colour."""

    plain = False

    @classmethod
    def create(cls, markdown: Markdown, token: Any) -> _CodeBlock:
        block = cls((token.info or "").partition(" ")[0] or "text", markdown.code_theme)
        block.plain = getattr(markdown, "plain", False)
        block.info = (token.info or "").strip()
        return block

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        code = str(self.text).rstrip()
        if self.plain:
            fence = "```"
            yield Text(f"{fence}{self.info}\n{code}\n{fence}")
            return
        syntax = Syntax(code, self.lexer_name, theme=self.theme, word_wrap=True, padding=0,
                        background_color="default")
        yield Padding(syntax, (0, 0, 0, CODE_INDENT))


class _ListItem(ListItem):
    """A list item; an ordered one is numbered ``1.``, ``2.``... as it was written."""

    def render_number(self, console: Console, options: ConsoleOptions, number: int,
                      last_number: int) -> RenderResult:
        from rich._loop import loop_first

        width = len(str(last_number)) + 3  # " 12. "
        lines = console.render_lines(self.elements, options.update(width=options.max_width - width),
                                     style=self.style)
        style = console.get_style("markdown.item.number", default="none")
        numeral = Segment(f"{number}.".rjust(width - 1) + " ", style)
        padding = Segment(" " * width, style)
        for first, line in loop_first(lines):
            yield numeral if first else padding
            yield from line
            yield Segment("\n")


class _Table(TableElement):
    """A table without the blank line rich draws as its top and bottom edge."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for table in super().__rich_console__(console, options):
            yield from _trimmed(console.render_lines(table, options, pad=False))


class AnswerMarkdown(Markdown):
    """Markdown as the terminal shows an answer (see the module docstring).

    ``plain`` (no colour): headings keep ``#``, inline code its backticks, code blocks
    their fences.
    """

    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **Markdown.elements, "heading_open": _Heading, "fence": _CodeBlock, "code_block": _CodeBlock,
        "list_item_open": _ListItem, "table_open": _Table,
    }

    def __init__(self, markup: str, *, plain: bool = False):
        super().__init__(markup, code_theme=CODE_THEME, hyperlinks=False)
        self.plain = plain
        if plain:
            _tick_inline_code(self.parsed)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from _trimmed(list(Segment.split_lines(super().__rich_console__(console, options))))


def _tick_inline_code(tokens: list[Any]) -> None:
    """Wrap every inline code span's text in backticks (what shows it is code, in plain text)."""
    for token in tokens:
        if token.type == "code_inline":
            fence = "``" if "`" in token.content else "`"
            pad = " " if fence == "``" else ""
            token.content = f"{fence}{pad}{token.content}{pad}{fence}"
        if token.children:
            _tick_inline_code(token.children)


def _trimmed(lines: list[list[Segment]]) -> RenderResult:
    """``lines`` without the blank ones at either end, each ended by a newline."""
    def blank(line: list[Segment]) -> bool:
        return not "".join(segment.text for segment in line if not segment.control).strip()

    start, end = 0, len(lines)
    while start < end and blank(lines[start]):
        start += 1
    while end > start and blank(lines[end - 1]):
        end -= 1
    for line in lines[start:end]:
        yield from line
        yield Segment("\n")


__all__ = ["ANSWER_THEME", "CODE_THEME", "AnswerMarkdown", "plain_console"]
