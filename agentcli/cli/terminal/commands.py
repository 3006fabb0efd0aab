"""Slash commands: each works on the live session without leaving it.

A command is a name, a line of help and a handler ``(terminal, argument) -> outcome``; the
outcome ``"exit"`` or ``"new"`` tells the loop to leave or to start a new session. What a
command changes is an operation submitted to the engine (its outcome comes back as an
event the view draws); what it shows is read through ``engine.facts``. An unknown
``/word`` is refused here, with a suggestion, and never sent to the model.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from agentcli.agent.engine.engine import APPROVAL_MODES
from agentcli.errors import AgentcliError

if TYPE_CHECKING:
    from rich.console import Console

    from agentcli.agent.config import Settings
    from agentcli.agent.engine.engine import Engine


class Terminal(Protocol):
    """What a command works with: the screen, the engine (None until the first prompt of a
    new session), and a way to wait for it."""

    console: Console
    engine: Engine | None
    sessions: Any  # cli/repl.py's Sessions: where engines come from

    @property
    def settings(self) -> Settings:
        """The settings in use (before the first prompt: those the session will start with)."""

    def wait(self, *, type_ahead: bool = False) -> None:
        """Until the engine has done what was submitted (Ctrl-C interrupts it)."""

    def status_facts(self) -> Any:
        """What the footer says now."""

    def show_output(self, number: int | None = None) -> None:
        """The whole output of call ``number`` (None: the last), in the pager."""

    def defer(self, text: str) -> None:
        """Run the command line ``text`` once the agent has finished its turn."""

    def fork(self, at: int | None) -> None:
        """Go on in a fork of the session at checkpoint ``at`` (whole: None)."""


Handler = Callable[[Terminal, str], "str | None"]
COMMAND_WORD = re.compile(r"^/[a-z][a-z-]*$")
# Words people try that are not commands here, and where that lives.
SYNONYMS = {"/cost": "/status", "/tokens": "/status", "/usage": "/status", "/clear": "/new",
            "/history": "/log", "/checkpoint": "/checkpoints", "/mode": "/approval", "/revert": "/undo",
            "/q": "/exit", "/bye": "/exit"}


@dataclass(frozen=True)
class Command:
    """One slash command."""

    name: str
    usage: str
    help: str
    handler: Handler
    while_busy: bool = False  # may run while the agent works (it only reads)
    sessionless: bool = False  # works before the first prompt has made the session


def is_command(text: str) -> bool:
    """True when ``text`` is meant as a slash command (``/word ...``), not a path."""
    first = text.strip().split(maxsplit=1)[0] if text.strip() else ""
    return bool(COMMAND_WORD.match(first))


def suggestion(word: str) -> str:
    """The command an unknown ``/word`` most likely meant, or ""."""
    if word in SYNONYMS:
        return SYNONYMS[word]
    close = difflib.get_close_matches(word, list(COMMANDS), n=1, cutoff=0.6)
    return close[0] if close else ""


def run_command(repl: Terminal, text: str, *, busy: bool = False) -> str | None:
    """Run one slash command line; refuse unknown ones locally (nothing reaches the model)."""
    word, _, argument = text.strip().partition(" ")
    command = COMMANDS.get(word) or COMMANDS.get(ALIASES.get(word, ""))
    console = repl.console
    if command is None:
        hint = suggestion(word)
        console.print(f"unknown command {word}" + (f" — did you mean {hint}?" if hint else "")
                      + " (/help lists the commands; nothing was sent to the model)",
                      style="yellow", markup=False, highlight=False)
        return None
    if busy and not command.while_busy:  # it changes the session: after the turn, not in it
        repl.defer(text)
        console.print(f"{command.name} runs once this turn has ended (Esc or Ctrl-C stops the turn now)",
                      style="yellow", markup=False, highlight=False)
        return None
    if repl.engine is None and not command.sessionless:
        console.print(f"{command.name}: no session yet — your first prompt starts it", style="dim",
                      markup=False, highlight=False)
        return None
    try:
        return command.handler(repl, argument.strip())
    except AgentcliError as err:
        console.print(f"{command.name}: {err}", style="red", markup=False, highlight=False)
        return None


# -- the commands ----------------------------------------------------------------------
def _help(repl: Terminal, argument: str) -> None:
    from rich.table import Table

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for command in COMMANDS.values():
        table.add_row(command.usage, command.help)
    repl.console.print(table)
    repl.console.print(
        "Enter sends · Alt-Enter or Ctrl-J: new line · Tab completes /commands and @files · "
        "@path attaches a file · typing while the agent works queues a prompt · Ctrl-O shows the "
        "last output whole · Esc or Ctrl-C stops the turn; Ctrl-C twice at an empty prompt, or "
        "Ctrl-D, leaves · a question is answered by one key", style="dim", markup=False,
        highlight=False)


def _plan(repl: Terminal, argument: str) -> None:
    from agentcli.cli.terminal.view import plan_text

    items = repl.engine.facts.plan()
    if not items:
        repl.console.print("no plan yet", style="dim")
        return
    repl.console.print(plan_text([{"title": i.title, "status": i.status} for i in items]))


def _number(argument: str, what: str) -> int | None:
    if not argument:
        return None
    if not argument.isdigit() or int(argument) < 1:
        from agentcli.errors import UsageError

        raise UsageError(f"{what} takes a checkpoint number (see /checkpoints), not {argument!r}")
    return int(argument)


def _diff(repl: Terminal, argument: str) -> None:
    from agentcli.cli.terminal.diffs import diff_text

    number, text = repl.engine.facts.diff(_number(argument, "/diff"))
    if not text:
        hint = " (/diff 1 shows the whole session)" if number > 1 else ""
        repl.console.print(f"no changes since checkpoint {number}{hint}", style="dim", markup=False)
        return
    repl.console.print(diff_text(text, max_lines=2000))


def _rollback_to(repl: Terminal, to: int | None, *, undo: bool = False, force: bool = False) -> None:
    """Roll back (or undo the last rollback); the view draws what it restored."""
    from agentcli.agent.engine.operations import Rollback

    if not undo:
        repl.engine.facts.checkpoint(to)  # a number that names no checkpoint is refused here, at once
    repl.engine.submit(Rollback(to=to, undo=undo, force=force))
    repl.wait()


def _undo(repl: Terminal, argument: str) -> None:
    _rollback_to(repl, None, force=argument == "--force")


def _rollback(repl: Terminal, argument: str) -> None:
    words = argument.split()
    force = "--force" in words
    words = [w for w in words if w != "--force"]
    if words in (["--undo"], ["undo"]):
        _rollback_to(repl, None, undo=True, force=force)
        return
    if len(words) != 1:
        from agentcli.errors import UsageError

        raise UsageError("give a checkpoint number, e.g. /rollback 2 (/checkpoints lists them), "
                         "or /rollback --undo")
    _rollback_to(repl, _number(words[0], "/rollback"), force=force)


def _checkpoints(repl: Terminal, argument: str) -> None:
    from agentcli.cli.terminal.tables import checkpoints_table

    infos = repl.engine.facts.checkpoints()
    if not infos:
        repl.console.print("no checkpoints yet: one is taken when each prompt starts", style="dim")
        return
    repl.console.print(checkpoints_table(infos, repl.console.width - 1), no_wrap=True)


def _log(repl: Terminal, argument: str) -> None:
    from agentcli.cli.render.text import totals_line
    from agentcli.cli.terminal.tables import log_table

    calls = repl.engine.facts.model_calls(50)
    if not calls:
        repl.console.print("no model calls yet", style="dim")
        return
    repl.console.print(log_table(calls, repl.console.width - 1), no_wrap=True)
    repl.console.print(totals_line(repl.engine.facts.totals()), style="dim", markup=False)


def _output(repl: Terminal, argument: str) -> None:
    if argument and not (argument.isdigit() and int(argument) >= 1):
        from agentcli.errors import UsageError

        raise UsageError(f"give the number shown under a tool line, e.g. /output 3 (or none: the last), "
                         f"not {argument!r}")
    repl.show_output(int(argument) if argument else None)


def _model(repl: Terminal, argument: str) -> None:
    if not argument:
        repl.console.print(f"model: {repl.settings.model} (/model NAME changes it)", markup=False)
        return
    if repl.engine is None:
        repl.sessions.preset(model=argument)
        repl.console.print(f"model: {argument} (the session your first prompt starts uses it)",
                           markup=False, highlight=False)
        return
    from agentcli.agent.engine.operations import SetModel

    repl.engine.submit(SetModel(argument))
    repl.wait()


def _approval(repl: Terminal, argument: str) -> None:
    modes = ", ".join(APPROVAL_MODES)
    if not argument:
        repl.console.print(f"approval is {repl.settings.approval or 'ask'}; /approval MODE changes "
                           f"it (the modes: {modes})", markup=False, highlight=False)
        return
    if argument.lower() not in APPROVAL_MODES:
        repl.console.print(f"invalid approval mode {argument!r} — the modes: {modes}", style="yellow",
                           markup=False, highlight=False)
        return
    argument = argument.lower()
    if repl.engine is None:
        repl.sessions.preset(approval=argument)
        repl.console.print(f"approval: {argument} (the session your first prompt starts uses it)",
                           markup=False, highlight=False)
        return
    from agentcli.agent.engine.operations import SetApproval

    repl.engine.submit(SetApproval(argument))
    repl.wait()


def _status(repl: Terminal, argument: str) -> None:
    from agentcli.cli.terminal.status import status_line
    from agentcli.cli.terminal.tables import status_text

    if repl.engine is None:
        settings = repl.settings
        repl.console.print(f"no session yet: your first prompt starts it · {settings.model} · approval "
                           f"{settings.approval}", markup=False, highlight=False)
        return
    status = repl.engine.facts.status()
    repl.console.print(status_text(status, status_line(repl.status_facts()), repl.console.width - 1),
                       no_wrap=True)


def _compact(repl: Terminal, argument: str) -> None:
    """Summarise older turns now (one model call; Ctrl-C stops it): the view says how it went."""
    from agentcli.agent.engine.operations import Compact

    repl.engine.submit(Compact())
    repl.wait()


def _mcp(repl: Terminal, argument: str) -> None:
    from agentcli.cli.commands.mcp import describe

    for line in describe(repl.engine.facts.mcp_servers()) or ["no MCP servers in this session"]:
        repl.console.print(line, markup=False, highlight=False)


def _new(repl: Terminal, argument: str) -> str:
    return "new"


def _fork(repl: Terminal, argument: str) -> None:
    """Go on in a fork: the conversation up to checkpoint N (whole by default) in a new file."""
    if argument.split()[:1] == ["--worktree"] or " --worktree" in f" {argument}":
        from agentcli.errors import UsageError

        ref = repl.engine.facts.resume_ref() if repl.engine else "SESSION"
        raise UsageError(f"a fork with its own files is made outside the terminal: agentcli fork {ref} "
                         "--at N --worktree DIR")
    repl.fork(_number(argument, "/fork"))


def _exit(repl: Terminal, argument: str) -> str:
    return "exit"


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("/help", "/help", "the commands and keys", _help, while_busy=True, sessionless=True),
    Command("/plan", "/plan", "the agent's plan, as a checklist", _plan, while_busy=True),
    Command("/diff", "/diff [N]", "what the agent changed since the last prompt (or checkpoint N)",
            _diff, while_busy=True),
    Command("/undo", "/undo", "roll back the last prompt: its file changes and conversation", _undo),
    Command("/rollback", "/rollback N", "go back to checkpoint N (--undo reverts the last rollback)",
            _rollback),
    Command("/checkpoints", "/checkpoints", "the rollback points, one per prompt", _checkpoints,
            while_busy=True),
    Command("/output", "/output [N]", "the whole output of the last command or read (or of output N), "
            "in a pager; Ctrl-O too", _output, while_busy=True),
    Command("/log", "/log", "the audit log of model calls", _log, while_busy=True),
    Command("/model", "/model NAME", "use another model from the next request on", _model, sessionless=True),
    Command("/approval", "/approval MODE", "ask, auto-edit, full-auto or read-only", _approval,
            sessionless=True),
    Command("/status", "/status", "session, model, tokens, context, cost", _status, while_busy=True,
            sessionless=True),
    Command("/compact", "/compact", "summarise older turns to free context", _compact),
    Command("/mcp", "/mcp", "the MCP servers of this session: status, tools, annotations", _mcp,
            while_busy=True),
    Command("/new", "/new", "start a new session (this one stays resumable)", _new, sessionless=True),
    Command("/fork", "/fork [N]", "go on in a copy of this session: its conversation before prompt N "
            "(default: all of it); the original stays as it is", _fork),
    Command("/exit", "/exit", "leave; prints how to resume", _exit, sessionless=True),
)}
ALIASES = {"/quit": "/exit"}
ARGUMENTS = {"/approval": APPROVAL_MODES, "/rollback": ("--undo",)}
