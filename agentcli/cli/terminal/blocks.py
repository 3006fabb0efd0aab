"""A slash command typed while the agent works, drawn as one block of its own.

The command runs against a console of its own (same width and colours as the
terminal's), its line echoed first under a ``› /plan`` header; the view then prints the
whole block at once above the live area, or holds it until the answer being streamed has
ended (:meth:`~agentcli.cli.terminal.view.TerminalView.command_block`), so a command's
output never lands between two blocks of an answer.

Example:
    >>> view.command_block(drawn_command(repl, "/plan"))
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from agentcli.cli.terminal.commands import run_command

if TYPE_CHECKING:
    from rich.console import Console

    from agentcli.agent.config import Settings
    from agentcli.cli.repl import Repl


def drawn_command(repl: Repl, text: str) -> str:
    """Run the command line ``text`` while the agent works; what it printed, header first."""
    from rich.text import Text

    console = repl.console
    drawn = io.StringIO()
    block = type(console)(file=drawn, width=console.width, color_system=console.color_system,
                          force_terminal=console.is_terminal, no_color=console.no_color, markup=False,
                          highlight=False, emoji=False)
    block.print(Text(f"› {text}", style="bold"), no_wrap=True, overflow="ellipsis")
    run_command(BlockTerminal(repl, block), text, busy=True)
    return drawn.getvalue()


class BlockTerminal:
    """The terminal as a command typed while the agent works sees it: what it prints goes
    to ``console`` (the block being drawn); the rest is the terminal's."""

    def __init__(self, repl: Repl, console: Console):
        self._repl = repl
        self.console = console
        self.engine = repl.engine
        self.sessions = repl.sessions

    @property
    def settings(self) -> Settings:
        """The settings in use."""
        return self._repl.settings

    def wait(self, *, type_ahead: bool = False) -> None:
        """As the terminal waits."""
        self._repl.wait(type_ahead=type_ahead)

    def status_facts(self) -> Any:
        """What the footer says now."""
        return self._repl.status_facts()

    def show_output(self, number: int | None = None) -> None:
        """The pager, or (no real terminal) the output printed in the block."""
        self._repl.show_output(number, console=self.console)

    def defer(self, text: str) -> None:
        """Run ``text`` once the agent has finished its turn."""
        self._repl.defer(text)

    def fork(self, at: int | None) -> None:
        """As the terminal forks (a command that changes the session runs after the turn)."""
        self._repl.fork(at)


__all__ = ["BlockTerminal", "drawn_command"]
