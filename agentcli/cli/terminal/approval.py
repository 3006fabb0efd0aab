"""Approval questions at the terminal: show exactly what would happen, then ask.

The question is the engine's ``approval.requested`` event: it carries the command, the
diff of every edit (a new file: its first lines) and what "always" would allow, in
words. The answers, one key each (no Enter): ``y`` yes, ``n`` no, ``a`` always (only when
the engine offers it), ``r`` no with a reason — a line then read and given back to the
model in the tool result. A question the engine withdraws (the turn was stopped)
closes the line it is read on. A command that would run outside
the sandbox (it asked to, or there is none here) says so, with the model's justification,
and offers no "always": it is asked every time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentcli.cli.render.text import clean
from agentcli.cli.terminal.diffs import diff_text

if TYPE_CHECKING:
    from rich.console import Console

# shows a prompt, returns the line typed (None: the question was withdrawn; EOFError at the end)
Reader = Callable[[str], "str | None"]
# shows a prompt, returns the one key of ``keys`` pressed (None: withdrawn; EOFError at the end)
KeyReader = Callable[[str, str], "str | None"]

CHOICES = {"y": "yes", "n": "no", "a": "always", "r": "reason"}
ANSWER_WORDS = {"y": "yes", "n": "no", "a": "always", "r": "no, because:"}  # shown after the key


@dataclass(frozen=True)
class Answer:
    """What the person answered: ``yes``, ``no`` or ``always``, and a reason for a ``no``."""

    choice: str
    reason: str = ""


def show_request(console: Console, question: dict[str, Any]) -> None:
    """Print what the call would do: the diff of every edit, or the whole command."""
    from rich.text import Text

    agent = question.get("agent", "orchestrator")
    who = "" if agent == "orchestrator" else f"{agent}: "
    tool = question.get("tool", "")
    if question.get("kind") == "shell":
        sandbox = question.get("sandbox")
        if sandbox == "outside":
            console.print(Text(f"{who}{tool} wants to run OUTSIDE THE SANDBOX:", style="bold red"))
            console.print(Text("  (it could write anywhere you can, and use the network)", style="red"))
        elif sandbox == "unavailable":
            console.print(Text(f"{who}{tool} wants to run UNSANDBOXED:", style="bold red"))
            reason = clean(question.get("unsandboxed_reason", ""))
            console.print(Text(f"  (there is no sandbox here: {reason})", style="red"))
        else:
            console.print(Text(f"{who}{tool} wants to run:", style="bold yellow"))
        for line in clean(question.get("command", "")).splitlines() or [""]:
            console.print(Text(f"  $ {line}", style="bold"), soft_wrap=False)
        if question.get("justification"):
            console.print(Text(f"  why: {clean(question['justification'])}", style="yellow"))
        return
    if question.get("kind") == "external":
        console.print(Text(f"{who}{tool} wants to call MCP server {clean(question.get('server', ''))} with:",
                           style="bold yellow"))
        for line in clean(question.get("details") or question.get("summary", "")).splitlines() or [""]:
            console.print(Text(f"  {line}", style="bold"), soft_wrap=False)
        return
    console.print(Text(f"{who}{tool} wants to {clean(question.get('summary', ''))}:", style="bold yellow"))
    for edit in question.get("edits") or []:
        console.print(Text(f"  {edit['op']} {clean(edit['path'])}  +{edit['added']} -{edit['removed']}",
                           style="dim"))
        console.print(diff_text(edit["diff"]))


class TerminalAsker:
    """Asks the person at the terminal one approval question."""

    def __init__(self, console: Console, read: Reader, read_key: KeyReader):
        self.console = console
        self.read = read
        self.read_key = read_key

    def ask(self, question: dict[str, Any]) -> Answer | None:
        """Show the question, then read one of y / n / a / r (then a reason line) until one is
        given; None when the question was withdrawn while it was shown."""
        show_request(self.console, question)
        always = question.get("always")
        self.console.print("  y yes · n no · r no, and tell the model why", style="dim", markup=False,
                           highlight=False)
        if always:
            self.console.print(f"  a {always}", style="dim", markup=False, highlight=False)
        elif question.get("sandbox") in ("outside", "unavailable"):
            self.console.print("  (no \"always\": a command outside the sandbox is asked every time)",
                               style="dim", markup=False, highlight=False)
        shown = "y/n/a/r" if always else "y/n/r"
        while True:
            try:
                key = self.read_key(f"allow? [{shown}] › ", "ynar")
            except EOFError:
                return Answer("no", "the question was not answered")
            if key is None:
                return None
            choice = CHOICES.get(key)
            if choice is None:
                continue
            if choice == "always" and not always:
                outside = question.get("sandbox") in ("outside", "unavailable")
                why = "it would run outside the sandbox" if outside else "a compound command"
                self.console.print(f"this one cannot be allowed always ({why}): y allows it once",
                                   style="yellow", markup=False, highlight=False)
                continue
            if choice == "reason":
                reason = self._reason()
                return None if reason is None else Answer("no", reason)
            return Answer(choice)

    def _reason(self) -> str | None:
        try:
            line = self.read("tell the model why › ")
        except EOFError:
            return ""
        return None if line is None else line.strip()
