"""Approval questions at the terminal: show exactly what would happen, then ask.

An edit shows the coloured diff of the bytes it would write (a new file: its first
lines); a shell command is shown whole, and so are the arguments of an MCP tool call.
What "always" would allow is spelled out
before it can be chosen. The answers: yes, no, always, or no with a reason that
goes back to the model in the tool result.
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
    if request.kind == "external":
        return f"always allow {request.tool} (this tool of MCP server {request.server} only)"
    return "always allow every file edit in this session"


def show_request(console: Console, request: ApprovalRequest) -> None:
    """Print what the call would do: the diff of every edit, or the whole command."""
    from rich.text import Text

    who = "" if request.agent == "orchestrator" else f"{request.agent}: "
    if request.kind == "shell":
        console.print(Text(f"{who}{request.tool} wants to run:", style="bold yellow"))
        for line in clean(request.command).splitlines() or [""]:
            console.print(Text(f"  $ {line}" if line is not None else "", style="bold"), soft_wrap=False)
        return
    if request.kind == "external":
        console.print(Text(f"{who}{request.tool} wants to call MCP server {request.server} with:",
                           style="bold yellow"))
        for line in clean(request.details or request.summary).splitlines() or [""]:
            console.print(Text(f"  {line}", style="bold"), soft_wrap=False)
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
        scope = always_scope(request)
        self.console.print("  y yes · n no · r no, and tell the model why", style="dim", markup=False,
                           highlight=False)
        self.console.print(f"  a {scope}", style="dim", markup=False, highlight=False)
        while True:
            try:
                line = self.read("allow? [y/n/a/r] › ")
            except EOFError:
                return ApprovalAnswer("no", "the question was not answered")
            word, _, rest = line.strip().partition(" ")
            choice = CHOICES.get(word.strip(",.:").lower())
            if choice is None and line.strip():
                self.console.print("answer y, n, a or r", style="yellow")
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
