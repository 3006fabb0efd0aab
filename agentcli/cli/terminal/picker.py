"""``agentcli resume`` without a session in a terminal: pick one of this workspace's sessions."""

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


def pick_session(console: Console, entries: list[SessionEntry],
                 read: Callable[[str, int], str]) -> SessionEntry:
    """Show the sessions numbered, newest first; return the one chosen (Enter: the newest).

    ``read(message, choices)`` reads the answer (:func:`choice_reader` in a terminal).

    Raises:
        SessionNotFoundError: the workspace has no session.
        UsageError: the person chose none (``q``, Ctrl-D).
    """
    from rich.table import Table

    sessions = newest_first(entries)[:SHOWN]
    if not sessions:
        raise SessionNotFoundError("no session of this workspace to resume (start one with: agentcli)")
    table = Table(box=None, padding=(0, 1), show_edge=False, title="sessions of this workspace, newest first",
                  title_justify="left", title_style="bold")
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("title", no_wrap=True)
    room = max(console.width - 2 - 1 - 13 - 11 - 11 - 5, 10)  # what the other columns leave
    for number, entry in enumerate(sessions, 1):
        meta = entry.meta
        assert meta is not None
        status = meta.status_now(entry.busy) + (" busy" if entry.busy else "")
        table.add_row(str(number), meta.id, local_time(meta.updated_at)[5:16], status,
                      excerpt(meta.title or "(untitled)", room), style="dim" if entry.busy else None)
    console.print(table)
    while True:
        try:
            answer = read(f"resume which? [1-{len(sessions)} or ↑/↓, Enter: 1, q: quit] › ",
                          len(sessions)).strip().lower()
        except (EOFError, KeyboardInterrupt):
            answer = "q"
        if answer in ("q", "quit"):
            raise UsageError("no session chosen")
        if not answer:
            return sessions[0]
        if answer.isdigit() and 1 <= int(answer) <= len(sessions):
            return sessions[int(answer) - 1]
        match = [e for e in sessions if e.meta and e.meta.id.startswith(answer)]
        if len(answer) >= 4 and len(match) == 1:
            return match[0]
        console.print(f"type a number from 1 to {len(sessions)}", style="yellow")
