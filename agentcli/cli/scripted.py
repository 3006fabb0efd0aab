"""The scripted client (``-p``, ``--json``, a piped stdin): run to the end, asking nothing.

It submits one :class:`~agentcli.agent.engine.operations.RunPending` and waits; events
go to stderr as progress lines (or to stdout as JSON lines). Ctrl-C, SIGTERM and SIGHUP
become an ``Interrupt`` (resumable, exit 130). The last things it does are the client's
own: the ``session.finished`` event, the answer on stdout, the denied calls and the
advice on stderr, and the exit code of SPEC §6.

Example:
    >>> code = run_scripted(engine, options, resumed=False)
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from agentcli.agent.approval import what_allows
from agentcli.agent.engine.operations import Interrupt, RunPending
from agentcli.agent.events import Event, EventSink, serialized
from agentcli.agent.loop import TurnResult
from agentcli.cli.queued import hold_terminal_prompts
from agentcli.cli.render.events import EventPrinter, JsonLines
from agentcli.cli.render.text import clean, for_terminal
from agentcli.cli.signals import STOPPING, signals_to

if TYPE_CHECKING:
    import signal

    from agentcli.agent.config import Settings
    from agentcli.agent.engine.engine import Engine
    from agentcli.agent.engine.inspect import SessionFacts
    from agentcli.cli.options import RunOptions


def make_sink(options: RunOptions, settings: Settings | None = None) -> EventSink:
    """JSON lines on stdout for ``--json``; else progress for people (stderr when scripted).

    For people, retries of one request are told once, with the schedule (not a line per
    attempt); a scripted run's own error is left to :func:`finish`, which prints it once.
    """
    from agentcli.cli.render.progress import Progress

    if options.json:
        return serialized(JsonLines(sys.stdout))
    attempts = settings.max_attempts if settings else 6
    cap = settings.retry_max_wait if settings else 60.0
    if options.interactive:
        printer = EventPrinter(sys.stdout, stream_text=True)
        return serialized(Progress(printer, sys.stdout, attempts=attempts, cap=cap))
    printer = EventPrinter(sys.stderr, stream_text=False)
    return serialized(Progress(printer, sys.stderr, attempts=attempts, cap=cap, own_errors=False))


def run_scripted(engine: Engine, options: RunOptions, emit: EventSink, *, resumed: bool) -> int:
    """Run what the session has pending to its end; the exit code. ``emit`` is the sink the
    engine was given (the client's own last event goes there too)."""
    import signal

    sys.stderr.write(f"agentcli: session {engine.facts.meta().id}\n")
    sys.stderr.flush()
    engine.start(resumed=resumed)
    stopping: tuple[signal.Signals, ...] = (*STOPPING, signal.SIGINT)
    with signals_to(lambda name: engine.submit(Interrupt(name)), stopping):
        engine.submit(RunPending(hold=hold_terminal_prompts(engine.facts, options.queued)))
        result = engine.wait()
    if result is None:  # the run was refused before it began (an operation failed)
        result = TurnResult("failed", error="nothing ran", exit_code=1)
    if result.status == "interrupted":
        sys.stderr.write("\n")
    return finish(engine.facts, result, options, emit, fresh=not resumed)


def finish(facts: SessionFacts, result: TurnResult, options: RunOptions, emit: EventSink, *,
           fresh: bool = False) -> int:
    """Report the end of a run (event, stdout answer, stderr notes) and return the exit code.

    ``fresh``: the session was created by this run; when it never got an answer it is not
    kept (see :meth:`SessionFacts.never_answered`), and the advice says so instead of
    offering to resume it.
    """
    approval = (facts.meta().settings or {}).get("approval") or "ask"
    denied = [
        {"tool": c.name, "summary": c.summary, "reason": c.result, "allowed_by": what_allows(c, approval)}
        for c in facts.denied(result.prompt_ids)
    ]
    code = result.exit_code if result.status != "done" else 0
    if result.status == "interrupted":
        code = 1 if result.reason == "interface" else 130
    if code == 0 and denied and not options.interactive:
        code = 6
    error = result.error
    if error and not options.interactive:  # in a terminal the person is already in the session
        error += _advice(facts, result, discarded=fresh and facts.never_answered(result.reason))
    _safely(emit, Event("session.finished", {
        "session": facts.meta().id, "status": result.status, "exit_code": code, "reason": result.reason,
        "answer": result.answer, "error": error, "denied": denied, "totals": facts.run_totals(),
    }))
    if not options.json and not options.interactive and result.answer:
        _write(sys.stdout, for_terminal(result.answer.rstrip("\n") + "\n", sys.stdout))
    if not options.interactive:
        for item in denied:
            _write(sys.stderr, clean(f"agentcli: denied by the approval policy (--approval {approval}): "
                                     f"{item['summary'] or item['tool']} — {item['allowed_by']} allows it\n"))
        if error:
            _write(sys.stderr, clean(f"agentcli: {error}\n"))
        if not result.prompt_ids and result.status == "done":
            _write(sys.stderr, "agentcli: nothing to do: the session has no unfinished turn "
                               "(give a PROMPT to go on)\n")
    return code


def _safely(emit: EventSink, event: Event) -> None:
    """The client's own last event; a closed output loses it, not the run's exit code."""
    try:
        emit(event)
    except (OSError, ValueError):
        pass


def _write(stream: Any, text: str) -> None:
    """Write and flush; a closed stream (the reader went away) loses the text, not the run."""
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass


def _advice(facts: SessionFacts, result: TurnResult, *, discarded: bool) -> str:
    """How to go on after a run that stopped early, for a scripted run's last line."""
    if discarded:
        return " (no session was kept: run the command again once this is fixed)"
    if not result.resumable:
        return ""
    extra = {"max_turns": " --max-turns N", "budget": " --max-cost DOLLARS (or --max-tokens N)"}
    return (f" — the session is saved: agentcli resume {facts.resume_ref()}"
            f"{extra.get(result.reason or '', '')} goes on")
