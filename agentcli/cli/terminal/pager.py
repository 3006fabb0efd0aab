"""A whole output on its own screen: a small pager of prompt-toolkit's, no ``less`` needed.

``/output N`` and Ctrl-O open it over the terminal (the alternate screen, as ``less``
does); the scrollback is as it was when it closes. Keys: ↑/↓ or j/k a line, PgUp/PgDn,
Space and b a page, g/Home and G/End the ends, / searches (n the next match), q, Esc or
Ctrl-C closes it. Long lines wrap: nothing is cut. While it is open, what the agent
prints waits and appears, in order, once it closes. Not at a real terminal (a pipe in
tests), the output is printed whole between two rules instead.

Example:
    >>> page(io, "output 3 · run_shell $ pytest -q · exit 1", text)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

KEYS = "q quit · ↑↓ PgUp PgDn Space b g G move · / search, n next"
_WATCH_SECONDS = 0.05


def page(io: Any, title: str, text: str, closed: Callable[[], bool] = lambda: False,
         console: Any = None) -> None:
    """Show ``text`` under ``title`` until the person closes it (or ``closed()`` is true);
    printed whole on ``console`` (default: the terminal's) when there is no real terminal."""
    if not io.real:
        _print_whole(console or io.console, title, text)
        return
    application = _application(io, title, text)
    hold = getattr(io.console.file, "held", None)  # the ScreenWriter: keep the agent's output meanwhile
    with hold() if hold is not None else contextlib.nullcontext():
        application.run(pre_run=_closer(application, closed))


def _print_whole(console: Any, title: str, text: str) -> None:
    from rich.rule import Rule
    from rich.text import Text

    console.print(Rule(Text(title), align="left", style="dim", characters="─"))
    console.print(Text(text.rstrip("\n")), soft_wrap=False)
    console.print(Rule(Text("end of the output"), align="left", style="dim", characters="─"))


def _application(io: Any, title: str, text: str):  # -> prompt_toolkit Application
    from prompt_toolkit.application import Application
    from prompt_toolkit.filters import is_searching
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.key_binding.bindings.scroll import scroll_page_down, scroll_page_up
    from prompt_toolkit.layout import HSplit, Layout, Window
    from prompt_toolkit.layout.controls import FormattedTextControl
    from prompt_toolkit.search import SearchDirection, accept_search, start_search, stop_search
    from prompt_toolkit.widgets import SearchToolbar, TextArea

    search = SearchToolbar(forward_search_prompt="/", ignore_case=True)
    area = TextArea(text=text.rstrip("\n"), read_only=True, scrollbar=True, wrap_lines=True,
                    search_field=search, focus_on_click=False)
    lines = text.rstrip("\n").count("\n") + 1
    top = Window(FormattedTextControl([("reverse bold", f" {title} "), ("", f"  {lines} lines")]), height=1)
    bottom = Window(FormattedTextControl([("reverse", f" {KEYS} ")]), height=1)
    keys = KeyBindings()
    reading = ~is_searching  # while a search is typed, letters are the search's

    @keys.add("q", filter=reading)
    @keys.add("escape", filter=reading, eager=True)
    @keys.add("c-c", filter=reading)
    @keys.add("c-o", filter=reading)
    def _quit(event: Any) -> None:
        event.app.exit()

    @keys.add("space", filter=reading)
    @keys.add("pagedown", filter=reading)
    @keys.add("c-f", filter=reading)
    def _down(event: Any) -> None:
        scroll_page_down(event)

    @keys.add("b", filter=reading)
    @keys.add("pageup", filter=reading)
    @keys.add("c-b", filter=reading)
    def _up(event: Any) -> None:
        scroll_page_up(event)

    @keys.add("j", filter=reading)
    def _line_down(event: Any) -> None:
        area.buffer.cursor_down()

    @keys.add("k", filter=reading)
    def _line_up(event: Any) -> None:
        area.buffer.cursor_up()

    @keys.add("g", filter=reading)
    @keys.add("home", filter=reading)
    def _top(event: Any) -> None:
        area.buffer.cursor_position = 0

    @keys.add("G", filter=reading)
    @keys.add("end", filter=reading)
    def _bottom(event: Any) -> None:
        area.buffer.cursor_position = len(area.buffer.text)

    @keys.add("/", filter=reading)
    def _search(event: Any) -> None:
        start_search(area.control, direction=SearchDirection.FORWARD)

    @keys.add("n", filter=reading)
    def _next(event: Any) -> None:
        area.buffer.apply_search(area.control.search_state, include_current_position=False, count=1)

    @keys.add("enter", filter=is_searching)
    def _found(event: Any) -> None:
        accept_search()

    @keys.add("escape", filter=is_searching, eager=True)
    @keys.add("c-c", filter=is_searching)
    def _give_up(event: Any) -> None:
        stop_search(area.control)

    application = Application(layout=Layout(HSplit([top, area, search, bottom]), focused_element=area),
                              key_bindings=keys, full_screen=True, input=io.input, output=io.output)
    application.ttimeoutlen = 0.05  # Esc alone closes at once (no key here starts with Esc)
    return application


def _closer(application: Any, closed: Callable[[], bool]) -> Callable[[], None]:
    def watch() -> None:
        import asyncio

        async def until_closed() -> None:
            while not closed():
                await asyncio.sleep(_WATCH_SECONDS)
            with contextlib.suppress(Exception):
                application.exit()

        application.create_background_task(until_closed())

    return watch


__all__ = ["page"]
