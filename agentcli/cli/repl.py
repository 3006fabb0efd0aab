"""The interactive terminal: a client of the engine that reads prompts and draws events.

The main thread owns the screen and the keyboard; the engine runs the agent on its own
threads. What the person types becomes an operation (a prompt, an interrupt, a slash
command's ``SetModel``, ``Rollback``...) and everything the agent does comes back as an
event, drawn by the :class:`~agentcli.cli.terminal.view.TerminalView`. While a turn runs,
the input line stays open under the agent's output with a spinner above it: a line typed
there is a prompt queued in the session at once, taken at the next turn boundary. An
approval question is an event: the line closes, the question is asked, the answer is an
operation. Ctrl-C stops the turn (recorded ``cancelled``; the session stays resumable); a
second Ctrl-C at an empty prompt, or Ctrl-D, leaves. SIGTERM or SIGHUP at any moment —
the idle prompt, a question, ``/compact`` — shuts the engine down and leaves (exit 130).
A new session has no engine until its first prompt: the :class:`Sessions` the loop is
given creates the file then (``cli/terminal/sessions.py``), and ``/new`` and ``/fork``
go through it too.

Example:
    >>> events = TerminalEvents(view)
    >>> engine = Engine(session, settings, place, sink=events, interactive=True, live_output=True)
    >>> result = Repl(engine, events, terminal_io(), root=root).run()
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agentcli.agent.engine.operations import (
    AnswerApproval,
    Interrupt,
    Operation,
    RunPending,
    Shutdown,
    SubmitPrompt,
)
from agentcli.agent.loop import TurnResult
from agentcli.cli.queued import goodbye
from agentcli.cli.terminal.commands import ARGUMENTS, COMMANDS, is_command, run_command
from agentcli.cli.terminal.inputs import (
    OPEN_OUTPUT,
    EscapePressed,
    SlashAndPathCompleter,
    answer_keys,
    attach_mentions,
    busy_prompt,
    key_bindings,
    keys_kept_between_prompts,
    open_history,
)
from agentcli.cli.terminal.status import status_line
from agentcli.errors import AgentcliError

if TYPE_CHECKING:
    from rich.console import Console

    from agentcli.agent.config import Settings
    from agentcli.agent.engine.engine import Engine
    from agentcli.agent.events import Event
    from agentcli.cli.terminal.view import TerminalView

WOKEN = object()  # what an input line returns when it was closed for a question, the turn's end or a stop
LEAVE_HINT = "(Ctrl-C again, or Ctrl-D, to leave; the session stays resumable)"
AHEAD_PLACEHOLDER = "type a prompt to queue it for the next turn"
IDLE_PLACEHOLDER = "ask for a change · /help · @file attaches a file · Alt-Enter: new line"
_WATCH_SECONDS = 0.05


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

    from agentcli.cli.render.console import CleanConsole
    from agentcli.cli.terminal.screen import ScreenWriter

    output = create_output()
    console = CleanConsole(file=ScreenWriter(output), markup=False, highlight=False, emoji=False,
                      force_terminal=sys.stdout.isatty())
    return TerminalIO(console, output=output, real=True)


class TerminalEvents:
    """The engine's sink for a terminal: draws each event and tells the main thread what
    needs it (a question to ask, a question withdrawn, work that ended) by waking it."""

    def __init__(self, view: TerminalView):
        self.view = view
        self.wake = threading.Event()
        self.questions: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.resolved: set[int] = set()  # questions answered or withdrawn

    def __call__(self, event: Event) -> None:
        self.view(event)
        if event.type == "approval.requested":
            self.questions.put(event.data)
            self.wake.set()
        elif event.type == "approval.resolved":
            self.resolved.add(event.data["id"])
            self.wake.set()
        elif event.type in ("run.finished", "compact.finished", "rollback.finished", "operation.failed"):
            self.wake.set()

    def next_question(self) -> dict[str, Any] | None:
        """The oldest question still waiting for its answer, if any."""
        while True:
            try:
                question = self.questions.get_nowait()
            except queue.Empty:
                return None
            if question["id"] not in self.resolved:
                return question


class Sessions(Protocol):
    """Where the loop gets its engines: the first prompt's, ``/new``'s and ``/fork``'s."""

    settings: Settings

    def start(self, op: SubmitPrompt) -> Engine:
        """Create the session holding this first prompt; its engine."""

    def new(self) -> str | None:
        """Close the current engine (the id of its session: None when there was none)."""

    def fork(self, at: int | None) -> Engine:
        """Fork the current session at checkpoint ``at`` and drive the fork: its engine."""

    def preset(self, **changes: Any) -> None:
        """Change the settings the next session starts with."""

    def redact(self, text: str) -> str:
        """``text`` without the run's secrets."""


class Repl:
    """One interactive run: prompts, turns and slash commands, through one engine at a time
    (none until the first prompt of a new session)."""

    def __init__(self, engine: Engine | None, events: TerminalEvents, io: TerminalIO, *, root: Path,
                 sessions: Sessions | None = None, protected: list[Path] | None = None):
        assert engine is not None or sessions is not None, "a loop without a session needs a way to make one"
        self.engine = engine
        self.sessions = sessions
        self.events = events
        self.view = events.view
        self.io = io
        self.console = io.console
        self.root = root
        self.protected = protected or []
        self.idle = threading.Event()  # set while waiting at the prompt (tests wait for it)
        self.stopping: str | None = None  # a signal's name: shut down and leave (exit 130)
        self.result: TurnResult | None = None  # how the loop ended, once it has
        self._draft = ""
        self._ctrl_c = False
        self._leave_after_turn = False  # Ctrl-D on the type-ahead line: leave once the turn ends
        self._deferred: list[str] = []  # slash commands typed while the agent worked, run after it
        self._build_prompts()

    def _build_prompts(self) -> None:
        from prompt_toolkit.formatted_text import FormattedText

        history = open_history(self.root, redact=self._redact)
        completer = SlashAndPathCompleter(self.root, {n: c.help for n, c in COMMANDS.items()}, ARGUMENTS)
        common = {"history": history, "completer": completer, "complete_while_typing": False,
                  "enable_history_search": False}
        self._prompt = self.io.session(
            placeholder=FormattedText([("fg:ansibrightblack", IDLE_PLACEHOLDER)]),
            key_bindings=key_bindings(), **common)
        self._ahead = self.io.session(
            placeholder=FormattedText([("fg:ansibrightblack", AHEAD_PLACEHOLDER)]),
            refresh_interval=0.1, erase_when_done=True, key_bindings=key_bindings(busy=True), **common)
        busy_prompt(self._ahead)
        self._question = self.io.session()

    def _redact(self, text: str) -> str:
        if self.engine is not None:
            return self.engine.redact(text)
        return self.sessions.redact(text) if self.sessions is not None else text

    @property
    def settings(self) -> Settings:
        """The settings in use (before the first prompt: those the session will start with)."""
        if self.engine is not None:
            return self.engine.settings
        assert self.sessions is not None
        return self.sessions.settings

    # -- signals ----------------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """SIGTERM or SIGHUP (from the signal handler): shut the engine down and leave."""
        self.stopping = reason
        if self.engine is not None:
            self.engine.submit(Shutdown(reason))
        self.events.wake.set()

    # -- the loop ---------------------------------------------------------------------
    def run(self) -> TurnResult:
        """Take prompts until /exit, Ctrl-D, two Ctrl-C or a signal; the last turn's result."""
        self._drop_early_keys()
        if self.io.real and sys.stdin.isatty():
            with keys_kept_between_prompts(sys.stdin.fileno()):
                self.result = self._run()
        else:
            self.result = self._run()
        return self.result

    def _run(self) -> TurnResult:
        last = TurnResult("done")
        if self.engine is not None and self.engine.facts.pending():  # the first prompt, or a resumed turn
            last = self.run_turn(RunPending())
        while self.stopping is None and not (last.status == "interrupted" and last.resumable):
            text = self._read()
            if text is None:
                break
            outcome = self._handle(text)
            if outcome == "exit":
                break
            if isinstance(outcome, TurnResult):
                last = outcome
        if self.stopping is not None or (last.status == "interrupted" and last.resumable):
            reason = self.stopping or last.reason or "interrupted"
            return TurnResult("interrupted", error=f"interrupted ({reason})", exit_code=130,
                              prompt_ids=last.prompt_ids, resumable=True, reason="interrupted")
        if self.engine is not None:
            self.console.print(goodbye(self.engine.facts), style="bold", markup=False, highlight=False)
        else:
            self.console.print("bye — no prompt was sent, so no session was made", style="bold",
                               markup=False, highlight=False)
        return TurnResult("done", prompt_ids=last.prompt_ids)  # the person chose to leave

    def _handle(self, text: str) -> TurnResult | str | None:
        stripped = text.strip()
        if is_command(stripped):
            outcome = run_command(self, stripped)
            if outcome == "new":
                self._switch_to_new()
            return outcome
        if not stripped:
            if self.engine is not None and self.engine.facts.queued():
                return self.run_turn(RunPending())  # Enter on an empty line runs what is queued
            return None
        return self.run_turn(self._prompt_op(text))

    def _prompt_op(self, text: str) -> SubmitPrompt:
        """The prompt as it goes to the session: with the content of every ``@file``."""
        mentions = attach_mentions(text, self.root, self.protected)
        for problem in mentions.problems:
            self.console.print(f"  {problem}", style="yellow", markup=False, highlight=False)
        for path, lines in mentions.attached:
            self.console.print(f"  attached {path} ({lines} lines)", style="dim", markup=False,
                               highlight=False)
        return SubmitPrompt(mentions.text, source="terminal")

    def run_turn(self, op: Operation) -> TurnResult:
        """Submit ``op`` and wait for the turn it starts; the input line stays open meanwhile.
        The first prompt of a new session creates it (and its engine) first."""
        if self.engine is None:
            assert self.sessions is not None and isinstance(op, SubmitPrompt)
            try:
                self.engine = self.sessions.start(op)
            except AgentcliError as err:
                self.console.print(f"cannot start the session: {err}", style="red", markup=False,
                                   highlight=False)
                return TurnResult("failed", error=str(err), exit_code=err.exit_code)
            self.view.last_usage = None
            op = RunPending()
        self.view.outputs = self.engine.facts.output_count()  # the next output's number follows
        self.engine.submit(op)
        self.wait(type_ahead=True)
        self.view.release_blocks()  # a command's block still waiting for an answer's end
        result = self.engine.result or TurnResult("done")
        if result.status == "interrupted" and not result.resumable:
            self.console.print("(turn stopped, recorded as cancelled: your next prompt goes on from here)",
                               style="yellow", markup=False)
            waiting = self.engine.facts.queued()
            if waiting:
                self.console.print(f"{waiting} queued prompt{'s' if waiting > 1 else ''} kept: press Enter "
                                   "to run, or type a new prompt (it runs after them)", style="yellow",
                                   markup=False)
        if self.stopping is None:
            self._footer()
        return result

    def wait(self, *, type_ahead: bool = False) -> None:
        """Until the engine is idle (or a signal stops us): ask its questions as they come
        and, with ``type_ahead``, keep a line open for prompts queued meanwhile. Ctrl-C
        interrupts what runs (the turn is then ``cancelled``)."""
        self.idle.clear()
        events = self.events
        while self.stopping is None:
            events.wake.clear()  # before looking: what happens after this sets it again
            try:
                question = events.next_question()
                if question is not None:
                    self._answer(question)
                    continue
                if not self.engine.busy:
                    return
                if type_ahead:
                    self._type_ahead()
                else:
                    events.wake.wait(_WATCH_SECONDS)
            except EscapePressed:
                self.engine.submit(Interrupt("Esc", resumable=False))
            except KeyboardInterrupt:
                self.engine.submit(Interrupt("Ctrl-C", resumable=False))

    def _answer(self, question: dict[str, Any]) -> None:
        from agentcli.cli.terminal.approval import TerminalAsker

        number = question["id"]
        self.view.question_shown(question.get("call", ""))
        closed = lambda: number in self.events.resolved or self.stopping is not None  # noqa: E731
        asker = TerminalAsker(self.console, lambda text: self._read_line(self._question, text, closed),
                              lambda text, keys: self._read_line(self._key_prompt(keys), text, closed))
        try:
            answer = asker.ask(question)
        except KeyboardInterrupt:
            self.engine.submit(AnswerApproval(number, "no", "the question was not answered"))
            raise
        if answer is not None:
            self.engine.submit(AnswerApproval(number, answer.choice, answer.reason))
        self.view.question_answered()

    def _key_prompt(self, keys: str):  # -> prompt_toolkit.PromptSession
        """A prompt answered by one of ``keys`` (no Enter): see :func:`answer_keys`."""
        from agentcli.cli.terminal.approval import ANSWER_WORDS

        session = self.io.session(key_bindings=answer_keys(keys, ANSWER_WORDS))
        busy_prompt(session)
        return session

    def _footer(self) -> None:
        from rich.rule import Rule

        self.console.print(Rule(status_line(self.status_facts()), style="dim", align="right",
                                characters="─"))

    def status_facts(self):  # -> StatusFacts
        """What the footer and /status say now."""
        from agentcli.cli.terminal.status import StatusFacts

        status = self.engine.facts.status()
        usage = self.view.last_usage or {}
        used = usage.get("total_tokens") or (
            (usage.get("prompt_tokens") or 0) + (usage.get("completion_tokens") or 0)) or None
        return StatusFacts(status.model, status.approval, status.tokens, used, status.context_window,
                           status.prompt_tokens, status.completion_tokens, status.queued, status.cost)

    # -- input ------------------------------------------------------------------------
    def _message(self):  # -> FormattedText
        from prompt_toolkit.formatted_text import FormattedText

        return FormattedText([("bold", "› ")])

    def _read(self) -> str | None:
        """The next line at the prompt; None to leave (Ctrl-D, Ctrl-C twice on an empty line,
        or a signal)."""
        if self._leave_after_turn:
            return None
        if self._deferred:  # typed while the agent worked: now, echoed as if typed here
            text = self._deferred.pop(0)
            self.console.print(f"› {text}", style="bold", markup=False, highlight=False)
            return text
        while True:
            self.idle.set()
            try:
                text = self._read_line(self._prompt, self._message(), lambda: self.stopping is not None,
                                       default=self._draft)
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
            if text is None:  # a signal closed the line
                return None
            if text is OPEN_OUTPUT:
                self._prompt.app.erase_when_done = False  # Ctrl-O erased the line it closed
                self._draft = self._prompt.default_buffer.text
                self.show_output()
                continue
            self._draft = ""
            self._ctrl_c = False
            return text

    def _read_line(self, prompt: Any, message: Any, closed: Callable[[], bool], **options: Any) -> str | None:
        """One line read by ``prompt``; None when ``closed()`` became true while it was open."""
        text = prompt.prompt(message, pre_run=_closer(closed), **options)
        return None if text is WOKEN else text

    def _ahead_message(self):  # -> FormattedText
        from prompt_toolkit.formatted_text import FormattedText

        parts: list[tuple[str, str]] = []
        for index, line in enumerate(self.view.activity_lines()):
            parts.append(("fg:ansicyan" if index == 0 else "fg:ansibrightblack", line + "\n"))
        parts.append(("fg:ansibrightblack", "› "))
        return FormattedText(parts)

    def _type_ahead(self) -> None:
        """While the agent works: keep an input line open; Enter queues what was typed. The
        line closes when a question comes, the work ends, or a signal stops us."""
        wake, engine = self.events.wake, self.engine

        def closed() -> bool:
            return wake.is_set() or not engine.busy or self.stopping is not None

        try:
            text = self._ahead.prompt(self._ahead_message, default=self._draft, pre_run=_closer(closed))
        except EOFError:  # Ctrl-D on the empty line: the person is done
            return self._leave_soon()
        except EscapePressed:
            self._draft = self._ahead.default_buffer.text  # Esc stops the turn, not what was typed
            raise
        if text is OPEN_OUTPUT:
            self._draft = self._ahead.default_buffer.text
            self.show_output()
            return None
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
            self._busy_command(stripped)
            return None
        self.engine.submit(self._prompt_op(text))
        return None

    def _busy_command(self, text: str) -> None:
        """A slash command typed while the agent works: one block above the live area
        (:mod:`~agentcli.cli.terminal.blocks`), never inside an answer being streamed."""
        from agentcli.cli.terminal.blocks import drawn_command

        self.view.command_block(drawn_command(self, text))

    def defer(self, text: str) -> None:
        """Run the command line ``text`` once the agent has finished its turn."""
        self._deferred.append(text)

    def show_output(self, number: int | None = None, console: Console | None = None) -> None:
        """The whole output of call ``number`` (None: the last), in the pager (printed on
        ``console`` when there is no real terminal to page on)."""
        from agentcli.cli.render.text import clean
        from agentcli.cli.terminal.pager import page
        from agentcli.cli.terminal.view import output_title

        found = self.engine.facts.output(number) if self.engine is not None else None
        if found is None:
            count = self.engine.facts.output_count() if self.engine is not None else 0
            which = "no command or file output yet" if not count else (
                f"no output {number}: this session has outputs 1 to {count}")
            (console or self.console).print(which, style="yellow", markup=False, highlight=False)
            return
        shown, call = found
        page(self.io, output_title(shown, call), clean((call.result or "").expandtabs(4)),
             closed=lambda: self.stopping is not None, console=console)

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

    def _switch_to_new(self) -> None:
        if self.sessions is None:
            self.console.print("/new is not available here", style="yellow")
            return
        if self.engine is None:
            self.console.print("this is a new session already: it starts with your next prompt", style="dim",
                               markup=False, highlight=False)
            return
        ref = self.engine.facts.resume_ref()
        self.sessions.new()
        self.engine = None
        self.view.last_usage = None
        self.console.print(f"new session: it starts with your next prompt (the previous one resumes with: "
                           f"agentcli resume {ref})", style="bold", markup=False, highlight=False)

    def fork(self, at: int | None) -> None:
        """``/fork [N]``: go on in a fork of this session at checkpoint N (whole: None)."""
        if self.sessions is None or self.engine is None:
            from agentcli.errors import UsageError

            raise UsageError("there is no session to fork yet: it starts with your first prompt")
        parent = self.engine.facts.resume_ref()
        if at is not None:
            self.engine.facts.checkpoint(at)  # a number that names no checkpoint is refused here
        self.engine = self.sessions.fork(at)
        self.view.last_usage = None
        where = "the whole session" if at is None else f"the conversation before prompt {at}"
        self.console.print(f"now in the fork {self.engine.facts.meta().id}: {where}", style="bold",
                           markup=False, highlight=False)
        self.console.print(f"(the original resumes with: agentcli resume {parent})", style="dim",
                           markup=False, highlight=False)


def _closer(closed: Callable[[], bool]) -> Callable[[], None]:
    """A ``pre_run`` hook that ends the prompt (with :data:`WOKEN`) once ``closed()`` is true."""

    def watch() -> None:
        import asyncio

        from prompt_toolkit.application import get_app

        app = get_app()

        async def until_closed() -> None:
            while not closed():
                await asyncio.sleep(_WATCH_SECONDS)
            with contextlib.suppress(Exception):  # already leaving: Enter came first
                app.exit(result=WOKEN)

        app.create_background_task(until_closed())

    return watch


__all__ = ["Repl", "TerminalEvents", "TerminalIO", "terminal_io"]
