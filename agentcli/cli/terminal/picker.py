"""``agentcli resume`` without a session in a terminal: pick one of this workspace's sessions.

Every session can be reached: the list is shown a page at a time, newest first (``n`` and
``p`` turn the pages), and words typed at the question filter it (an id prefix, or words
of the title: ``fix login`` keeps the sessions whose title holds both). A number picks
that row of the list shown, ↑/↓ step the number, 4+ characters of an id pick that
session, Enter the first row. A session is named by the id it holds — a file copied or
renamed in the folder too, whose file name is shown beside it — and the statuses are the
words ``list`` uses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from agentcli.cli.render.text import excerpt, local_time
from agentcli.errors import SessionNotFoundError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from agentcli.cli.repl import TerminalIO
    from agentcli.session.directory import SessionEntry

SHOWN = 20
"""Rows of one page."""
HINT = "# or ↑/↓, Enter: 1st, words filter, n/p: pages, q: quit"
"""What the question says can be typed (each of it works: ``tests/test_picker.py``)."""


def newest_first(entries: list[SessionEntry]) -> list[SessionEntry]:
    """Readable sessions, the most recently used first."""
    readable = [e for e in entries if e.meta is not None]
    return sorted(readable, key=lambda e: (e.meta.updated_at, e.path.stem), reverse=True)  # type: ignore[union-attr]


def choice_reader(io: TerminalIO) -> Callable[[str, int], str]:
    """A one-line reader for a choice among ``count`` numbered rows: Up and Down step the
    number on the line (an empty line stands for 1), typing works as usual."""
    from prompt_toolkit.key_binding import KeyBindings

    count = [1]
    keys = KeyBindings()

    def step(event, by: int) -> None:  # noqa: ANN001 - prompt_toolkit's KeyPressEvent
        buffer = event.current_buffer
        text = buffer.text.strip()
        current = int(text) if text.isdigit() else 1
        buffer.text = str(min(max(current + by, 1), count[0]))
        buffer.cursor_position = len(buffer.text)

    keys.add("up")(lambda event: step(event, -1))
    keys.add("down")(lambda event: step(event, +1))
    asker = io.session(key_bindings=keys)

    def read(message: str, choices: int) -> str:
        count[0] = choices
        return asker.prompt(message)

    return read


def matches(entry: SessionEntry, words: str) -> bool:
    """Whether the filter ``words`` keeps ``entry``: an id prefix, or every word in its title."""
    meta = entry.meta
    assert meta is not None
    text = words.strip().lower()
    if meta.id.startswith(text) or entry.path.stem.lower().startswith(text):
        return True
    title = (meta.title or "").lower()
    return all(word in title for word in text.split())


class _Listing:
    """What the picker shows: the sessions kept by the filter, and the page of them."""

    def __init__(self, sessions: list[SessionEntry]):
        self.all = sessions
        self.kept = sessions
        self.filter = ""
        self.page = 0

    @property
    def pages(self) -> int:
        return max(1, -(-len(self.kept) // SHOWN))

    def rows(self) -> list[tuple[int, SessionEntry]]:
        start = self.page * SHOWN
        return list(enumerate(self.kept[start:start + SHOWN], start + 1))


def pick_session(console: Console, entries: list[SessionEntry],
                 read: Callable[[str, int], str]) -> SessionEntry:
    """Show the sessions numbered, newest first, a page at a time; return the one chosen
    (Enter: the first row). ``read(message, choices)`` reads the answer
    (:func:`choice_reader` in a terminal).

    Raises:
        SessionNotFoundError: the workspace has no session.
        UsageError: the person chose none (``q``, Ctrl-D).
    """
    sessions = newest_first(entries)
    if not sessions:
        raise SessionNotFoundError("no session of this workspace to resume (start one with: agentcli)")
    listing = _Listing(sessions)
    _draw(console, listing)
    while True:
        try:
            answer = read(f"resume which? [{HINT}] › ", len(listing.kept)).strip()
        except (EOFError, KeyboardInterrupt):
            answer = "q"
        chosen = _answer(console, listing, answer)
        if chosen is not None:
            return chosen


def _answer(console: Console, listing: _Listing, answer: str) -> SessionEntry | None:
    """Act on one answer: the session chosen, or None after redrawing (or saying why not)."""
    word = answer.lower()
    if word in ("q", "quit"):
        raise UsageError("no session chosen")
    if not word:
        return listing.kept[listing.page * SHOWN]
    if word.isdigit():
        if 1 <= int(word) <= len(listing.kept):
            return listing.kept[int(word) - 1]
        console.print(f"type a number from 1 to {len(listing.kept)}", style="yellow", markup=False)
        return None
    if word in ("n", "next", "p", "prev", "previous"):
        step = 1 if word.startswith("n") else -1
        if 0 <= listing.page + step < listing.pages:
            listing.page += step
            _draw(console, listing)
        else:
            console.print("that is the " + ("last" if step > 0 else "first") + " page", style="yellow",
                          markup=False)
        return None
    if word in ("*", "all"):
        listing.kept, listing.filter, listing.page = listing.all, "", 0
        _draw(console, listing)
        return None
    ids = [e for e in listing.all if e.meta and e.meta.id.startswith(word)]
    if len(word) >= 4 and len(ids) == 1:
        return ids[0]
    kept = [e for e in listing.all if matches(e, word)]
    if not kept:
        console.print(f"no session matches {answer!r} (* shows them all)", style="yellow", markup=False,
                      highlight=False)
        return None
    listing.kept, listing.filter, listing.page = kept, answer, 0
    _draw(console, listing)
    return None


def _draw(console: Console, listing: _Listing) -> None:
    from rich.table import Table
    from rich.text import Text

    from agentcli.cli.render.text import clean

    title = "sessions of this workspace, newest first"
    if listing.filter:
        title += f", matching {clean(listing.filter)!r} (* shows all)"
    if listing.pages > 1:
        title += f" (page {listing.page + 1} of {listing.pages}: n/p)"
    console.print(title, style="bold", markup=False, highlight=False)
    table = Table(box=None, padding=(0, 1), show_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("title", no_wrap=True)
    room = max(console.width - 2 - 1 - 13 - 11 - 11 - 5, 10)  # what the other columns leave
    for number, entry in listing.rows():
        meta = entry.meta
        assert meta is not None
        renamed = f"[{entry.path.name}] " if entry.path.stem != meta.id else ""
        title = Text(excerpt(renamed + (meta.title or "(untitled)"), room))  # a title is text, not markup
        table.add_row(str(number), Text(clean(meta.id)), local_time(meta.updated_at)[5:16],
                      meta.status_now(entry.busy), title, style="dim" if entry.busy else None)
    console.print(table)
