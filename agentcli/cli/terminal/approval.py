"""Approval questions at the terminal: show exactly what would happen, then ask.

An edit shows the coloured diff of the bytes it would write (a new file: its first
lines); a shell command is shown whole. What "always" would allow is spelled out
before it can be chosen. The answers: yes, no, always, or no with a reason that
goes back to the model in the tool result. A command that would run outside the
sandbox (it asked to, or there is none here) says so, with the model's justification,
and offers no "always": it is asked every time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from agentcli.agent.approval import ApprovalAnswer, ApprovalRequest
from agentcli.cli.render.text import clean
from agentcli.cli.terminal.diffs import diff_stats, diff_text, edit_diff

if TYPE_CHECKING:
    from rich.console import Console

    from agentcli.cli.terminal.view import TerminalView

Reader = Callable[[str], str]  # shows a prompt, returns the line typed (EOFError at the end)

CHOICES = {"y": "yes", "yes": "yes", "n": "no", "no": "no", "a": "always", "always": "always",
           "r": "reason", "reason": "reason"}


def always_scope(request: ApprovalRequest) -> str:
    """What answering "always" would allow, in words."""
    from agentcli.agent.grants import describe_grant

    if request.kind == "shell":
        return describe_grant(request.command)
    return "always allow every file edit in this session"


def show_request(console: Console, request: ApprovalRequest) -> None:
    """Print what the call would do: the diff of every edit, or the whole command."""
    from rich.text import Text

    who = "" if request.agent == "orchestrator" else f"{request.agent}: "
    if request.kind == "shell":
        confinement = request.confinement
        if confinement is not None and confinement.mode == "outside":
            console.print(Text(f"{who}{request.tool} wants to run OUTSIDE THE SANDBOX:", style="bold red"))
            console.print(Text("  (it could write anywhere you can, and use the network)", style="red"))
        elif confinement is not None and confinement.mode == "unavailable":
            console.print(Text(f"{who}{request.tool} wants to run UNSANDBOXED:", style="bold red"))
            console.print(Text(f"  (there is no sandbox here: {clean(confinement.reason)})", style="red"))
        else:
            console.print(Text(f"{who}{request.tool} wants to run:", style="bold yellow"))
        for line in clean(request.command).splitlines() or [""]:
            console.print(Text(f"  $ {line}" if line is not None else "", style="bold"), soft_wrap=False)
        if confinement is not None and confinement.justification:
            console.print(Text(f"  why: {clean(confinement.justification)}", style="yellow"))
        return
    console.print(Text(f"{who}{request.tool} wants to {clean(request.summary)}:", style="bold yellow"))
    for edit in request.edits:
        diff = edit_diff(edit)
        added, removed = diff_stats(diff)
        console.print(Text(f"  {edit.op} {clean(edit.path)}  +{added} -{removed}", style="dim"))
        console.print(diff_text(diff))


class TerminalAsker:
    """Answers the agent's approval questions by asking the person at the terminal."""

    def __init__(self, console: Console, read: Reader, view: TerminalView | None = None):
        self.console = console
        self.read = read
        self.view = view

    def __call__(self, request: ApprovalRequest) -> ApprovalAnswer:
        """Show the request, then read y / n / a / r (a reason) until one is given."""
        if self.view is not None:
            self.view.question_shown(request.agent)
        try:
            return self._ask(request)
        finally:
            if self.view is not None:
                self.view.question_answered()

    def _ask(self, request: ApprovalRequest) -> ApprovalAnswer:
        show_request(self.console, request)
        self.console.print("  y yes · n no · r no, and tell the model why", style="dim", markup=False,
                           highlight=False)
        if request.always_asked:
            self.console.print("  (no \"always\": a command outside the sandbox is asked every time)",
                               style="dim", markup=False, highlight=False)
        else:
            self.console.print(f"  a {always_scope(request)}", style="dim", markup=False, highlight=False)
        letters = "y/n/r" if request.always_asked else "y/n/a/r"
        while True:
            try:
                line = self.read(f"allow? [{letters}] › ")
            except EOFError:
                return ApprovalAnswer("no", "the question was not answered")
            word, _, rest = line.strip().partition(" ")
            choice = CHOICES.get(word.strip(",.:").lower())
            if choice == "always" and request.always_asked:
                choice = None
            if choice is None and line.strip():
                self.console.print(f"answer {letters.replace('/', ', ')}", style="yellow")
                continue
            if choice in (None, "no") and not rest.strip():
                return ApprovalAnswer("no")
            if choice in ("no", "reason"):
                reason = rest.strip(" ,:") or self._reason()
                return ApprovalAnswer("no", reason)
            return ApprovalAnswer(choice)

    def _reason(self) -> str:
        try:
            return self.read("tell the model why › ").strip()
        except EOFError:
            return ""
