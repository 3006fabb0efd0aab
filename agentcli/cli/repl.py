"""The interactive terminal's loop: read a prompt or a slash command, run the turn, repeat.

The agent runs on the worker thread; this thread owns the screen and the keyboard.
While a turn runs, the input line stays open under the agent's output with a spinner
above it: what is typed there is queued in the session file at once (Enter) and taken
at the next turn boundary. Approval questions interrupt it, then it comes back with
the text typed so far. Ctrl-C stops the turn (recorded ``cancelled``; the session
stays resumable); a second Ctrl-C at an empty prompt, or Ctrl-D, leaves.

Example:
    >>> repl = Repl(session, agent, worker, [CancelToken()], terminal_io(), view=view,
    ...             root=root, settings=settings)
    >>> result = repl.run()
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.loop import Orchestrator, TurnResult
from agentcli.cli.queued import goodbye
from agentcli.cli.render.text import excerpt
from agentcli.cli.terminal.commands import ARGUMENTS, COMMANDS, is_command, run_command
from agentcli.cli.terminal.inputs import SlashAndPathCompleter, attach_mentions, key_bindings, open_history
from agentcli.cli.terminal.status import StatusFacts, status_line
from agentcli.cli.worker import AgentWorker

if TYPE_CHECKING:
    from rich.console import Console

    from agentcli.agent.config import Settings
    from agentcli.cli.terminal.view import TerminalView
    from agentcli.session.session import Session

WOKEN = object()  # what the type-ahead line returns when closed for a question or the turn's end
LEAVE_HINT = "(Ctrl-C again, or Ctrl-D, to leave; the session stays resumable)"
AHEAD_PLACEHOLDER = "type a prompt to queue it for the next turn"
IDLE_PLACEHOLDER = "ask for a change · /help · @file attaches a file · Alt-Enter: new line"


@dataclass
class TerminalIO:
    """Where the terminal reads and draws: a real one, or pipes in tests."""

    console: Console
    input: Any = None  # prompt_toolkit Input (None: the process's terminal)
    output: Any = None  # prompt_toolkit Output
    real: bool = False  # the process's terminal: print above the open prompt, drop early keys

    def session(self, **options: Any):  # -> prompt_toolkit.PromptSession
        """A prompt-toolkit prompt reading and drawing here."""
        from prompt_toolkit import PromptSession

        return PromptSession(input=self.input, output=self.output, **options)


def terminal_io() -> TerminalIO:
    """The process's terminal: rich honours ``NO_COLOR`` and the width, markup is off.

    rich writes through a :class:`ScreenWriter`, so that what it prints while a prompt is
    open appears above the prompt, in order.
    """
    from prompt_toolkit.output import create_output
    from rich.console import Console

    from agentcli.cli.terminal.screen import ScreenWriter

    output = create_output()
    console = Console(file=ScreenWriter(output), markup=False, highlight=False, emoji=False,
                      force_terminal=sys.stdout.isatty())
    return TerminalIO(console, output=output, real=True)


def line_reader(io: TerminalIO) -> Callable[[str], str]:
    """A one-line reader for questions (no history, no completion)."""
    asker = io.session()
    return lambda message: asker.prompt(message)


NewSession = Callable[[], "tuple[Session, Orchestrator]"]


class Repl:
    """One interactive run: the prompts, the turns, the slash commands."""

    def __init__(self, session: Session, agent: Orchestrator, worker: AgentWorker,
                 current: list[CancelToken], io: TerminalIO, *, view: TerminalView, root: Path,
                 settings: Settings, open_new: NewSession | None = None,
                 protected: list[Path] | None = None):
        self.session = session
        self.agent = agent
        self.worker = worker
        self.current = current
        self.io = io
        self.console = io.console
        self.view = view
        self.root = root
        self.settings = settings
        self.open_new = open_new
        self.protected = protected or []
        self.opened: list[tuple[Session, Orchestrator]] = []  # sessions /new made (closed by the caller)
        self.idle = threading.Event()  # set while waiting at the prompt (tests wait for it)
        self._draft = ""
        self._ctrl_c = False
        self._leave_after_turn = False  # Ctrl-D on the type-ahead line: leave once the turn ends
        self._build_prompts()

    def _build_prompts(self) -> None:
        from prompt_toolkit.formatted_text import FormattedText

        history = open_history(self.root)
        completer = SlashAndPathCompleter(self.root, {n: c.help for n, c in COMMANDS.items()}, ARGUMENTS)
        common = {"history": history, "completer": completer, "key_bindings": key_bindings(),
                  "complete_while_typing": False, "enable_history_search": False}
        self._prompt = self.io.session(
            placeholder=FormattedText([("fg:ansibrightblack", IDLE_PLACEHOLDER)]), **common)
        self._ahead = self.io.session(
            placeholder=FormattedText([("fg:ansibrightblack", AHEAD_PLACEHOLDER)]),
            refresh_interval=0.1, erase_when_done=True, **common)

    # -- the loop ---------------------------------------------------------------------
    def run(self) -> TurnResult:
        """Take prompts until /exit, Ctrl-D or two Ctrl-C; return the last turn's result."""
        self._drop_early_keys()
        last = TurnResult("done")
        if self.session.prompts.next_pending() is not None:  # the first prompt, or a resumed turn
            last = self.run_turn()
            if last.status == "interrupted" and last.resumable:  # SIGTERM or SIGHUP
                return last
        while True:
            text = self._read()
            if text is None:
                break
            outcome = self._handle(text)
            if outcome == "exit":
                break
            if isinstance(outcome, TurnResult):
                last = outcome
                if last.status == "interrupted" and last.resumable:
                    return last
        self.console.print(goodbye(self.session), style="bold", markup=False, highlight=False)
        return TurnResult("done", prompt_ids=last.prompt_ids)  # the person chose to leave

    def _handle(self, text: str) -> TurnResult | str | None:
        stripped = text.strip()
        if is_command(stripped):
            outcome = run_command(self, stripped)
            if outcome == "new":
                self._switch_to_new()
            return outcome
        if not stripped:
            if self.session.prompts.count_queued():
                return self.run_turn()  # Enter on an empty line runs what is queued
            return None
        self._queue(text)
        return self.run_turn()

    def _queue(self, text: str, *, ahead: bool = False) -> None:
        """Store the prompt in the session now (with any @files); a turn takes it."""
        mentions = attach_mentions(text, self.root, self.protected)
        for problem in mentions.problems:
            self.console.print(f"  {problem}", style="yellow", markup=False, highlight=False)
        prompt = self.session.add_prompt(mentions.text, source="terminal")
        for path, lines in mentions.attached:
            self.console.print(f"  attached {path} ({lines} lines)", style="dim", markup=False,
                               highlight=False)
        if ahead:
            self.view.queued_ids.add(prompt.id)
            self.console.print(f"  queued for the next turn: {excerpt(text, 60)}", style="dim",
                               markup=False, highlight=False)

    def run_turn(self) -> TurnResult:
        """Run the pending prompts on the worker; the input line stays open meanwhile."""
        self.idle.clear()
        while True:
            token = self.current[0] = CancelToken()
            result = self.worker.run(self.agent.run, token, idle=self._type_ahead,
                                     on_interrupt=lambda token=token: token.cancel("Ctrl-C", resumable=False))
            # a prompt typed just as the turn ended is taken now, not left waiting
            if result.status != "done" or not self.session.prompts.count_queued():
                break
        if result.status == "interrupted" and not result.resumable:
            self.console.print("(turn stopped — recorded as cancelled; the session is saved and "
                               "your next prompt continues from here)", style="yellow", markup=False)
            waiting = self.session.prompts.count_queued()
            if waiting:
                self.console.print(f"{waiting} queued prompt{'s' if waiting > 1 else ''} kept: press Enter "
                                   "to run, or type a new prompt (it runs after them)", style="yellow",
                                   markup=False)
        self._footer()
        return result

    def _footer(self) -> None:
        from rich.rule import Rule

        self.console.print(Rule(status_line(self.status_facts()), style="dim", align="right",
                                characters="─"))

    def status_facts(self) -> StatusFacts:
        """What the footer and /status say now."""
        totals = self.session.model_calls.totals()
        usage = self.view.last_usage or {}
        used = usage.get("total_tokens") or (
            (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)) or None
        from agentcli.agent.pricing import configured_pricing, session_cost

        cost = session_cost(self.session, configured_pricing(self.root))
        return StatusFacts(self.settings.model, self.settings.approval or "ask", int(totals["total_tokens"]),
                           used, self.settings.context_window, int(totals["prompt_tokens"]),
                           int(totals["completion_tokens"]), self.session.prompts.count_queued(), cost)

    # -- input ------------------------------------------------------------------------
    def _message(self):  # -> FormattedText
        from prompt_toolkit.formatted_text import FormattedText

        return FormattedText([("bold", "› ")])

    def _read(self) -> str | None:
        """The next line at the prompt; None to leave (Ctrl-D, or Ctrl-C twice on an empty line)."""
        if self._leave_after_turn:
            return None
        while True:
            self.idle.set()
            try:
                text = self._prompt.prompt(self._message(), default=self._draft)
            except KeyboardInterrupt:
                typed = self._prompt.default_buffer.text
                self._draft = ""
                if typed.strip():
                    self._ctrl_c = False
                    continue  # Ctrl-C on a line clears it
                if self._ctrl_c:
                    return None
                self._ctrl_c = True
                self.console.print(LEAVE_HINT, style="dim", markup=False)
                continue
            except EOFError:
                return None
            finally:
                self.idle.clear()
            self._draft = ""
            self._ctrl_c = False
            return text

    def _ahead_message(self):  # -> FormattedText
        from prompt_toolkit.formatted_text import FormattedText

        parts: list[tuple[str, str]] = []
        for index, line in enumerate(self.view.activity_lines()):
            parts.append(("fg:ansicyan" if index == 0 else "fg:ansibrightblack", line + "\n"))
        parts.append(("fg:ansibrightblack", "› "))
        return FormattedText(parts)

    def _type_ahead(self, wake: threading.Event) -> None:
        """While the agent works: keep an input line open; Enter queues what was typed."""
        import asyncio

        from prompt_toolkit.application import get_app

        def watch() -> None:
            app = get_app()

            async def until_woken() -> None:
                while not wake.is_set():
                    await asyncio.sleep(0.05)
                with contextlib.suppress(Exception):  # already leaving: Enter came first
                    app.exit(result=WOKEN)

            app.create_background_task(until_woken())

        try:
            text = self._ahead.prompt(self._ahead_message, default=self._draft, pre_run=watch)
        except EOFError:  # Ctrl-D on the empty line: the person is done
            return self._leave_soon()
        if text is WOKEN:
            # what the line holds as it closes; keys typed after that are prompt-toolkit's
            # typeahead, read by the next prompt (the idle one, or this line reopened)
            self._draft = self._ahead.default_buffer.text
            return None
        self._draft = ""
        stripped = text.strip()
        if not stripped:
            return None
        if is_command(stripped):
            run_command(self, stripped, busy=True)
            return None
        self._queue(text, ahead=True)
        return None

    def _leave_soon(self) -> None:
        if not self._leave_after_turn:
            self._leave_after_turn = True
            self.console.print("  (Ctrl-D: leaving when this turn ends; Ctrl-C stops it now)",
                               style="dim", markup=False, highlight=False)

    def _drop_early_keys(self) -> None:
        """Keys typed while agentcli started are not a prompt: throw them away."""
        if not self.io.real or not sys.stdin.isatty():
            return
        import termios

        with contextlib.suppress(termios.error, OSError):
            termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)

    # -- what slash commands change -----------------------------------------------------
    def set_model(self, name: str) -> None:
        """Use model ``name`` from the next request on, and remember it in the session."""
        client = self.agent.model
        client.settings = replace(client.settings, model=name)  # type: ignore[attr-defined]
        client.name = name  # type: ignore[attr-defined]
        self.settings.model = name
        self._remember(model=name)
        self.session.update_meta(model=name)

    def set_approval(self, mode: str) -> None:
        """Switch the approval mode of the live session, and remember it."""
        self.agent.runner.approver.mode = mode
        self.settings.approval = mode
        self._remember(approval=mode)

    def _remember(self, **changes: Any) -> None:
        settings = dict(self.session.meta().settings or {})
        settings.update(changes)
        self.session.update_meta(settings=settings)

    def _switch_to_new(self) -> None:
        if self.open_new is None:
            self.console.print("/new is not available here", style="yellow")
            return
        old = self.session.id
        self.session, self.agent = self.open_new()
        self.opened.append((self.session, self.agent))
        self.view.session = self.session
        self.view.last_usage = None
        self.console.print(f"new session {self.session.id} (the previous one resumes with: "
                           f"agentcli resume {old})", style="bold", markup=False, highlight=False)


__all__ = ["Repl", "TerminalIO", "line_reader", "terminal_io"]
