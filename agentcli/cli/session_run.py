"""The two ways to drive a session: start a new one, or resume one from its file."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from agentcli.agent.config import Settings
from agentcli.agent.loop import Orchestrator
from agentcli.cli.driver import (
    RunOptions,
    announce,
    build_orchestrator,
    finish,
    make_sink,
    read_prompt,
    remembered_settings,
    settings_for,
    unkept,
)
from agentcli.cli.options import CliContext
from agentcli.errors import UsageError
from agentcli.session.session import Session

if TYPE_CHECKING:
    from agentcli.agent.events import EventSink
    from agentcli.cli.repl import Repl, TerminalIO


def _create(ctx: CliContext, settings: Settings, prompt: str | None, source: str) -> Session:
    """A new session file: schema, meta, system message and prompt, in one atomic step."""
    from agentcli.agent.failpoints import failpoint
    from agentcli.agent.system_prompt import instruction_folders, system_prompt

    return ctx.sessions.create(
        workspace_root=ctx.workspace_root, model=settings.model,
        endpoint_host=settings.endpoint_host, settings=remembered_settings(settings),
        system=system_prompt(ctx.workspace_root, settings.approval or "ask",
                             instruction_folders(ctx.workspace_root, Path.cwd())), prompt=prompt,
        prompt_source=source, step=failpoint,
    )


def start_session(ctx: CliContext, options: RunOptions) -> int:
    """``agentcli new`` (and ``agentcli`` alone): create the session file, then run like a resume."""
    prompt = read_prompt(options, required=True)
    settings = settings_for(ctx, options)
    session = _create(ctx, settings, prompt, "stdin" if options.prompt in (None, "-") else "argument")
    keep = True
    try:
        code, keep = _drive(ctx, session, settings, options, resumed=False)
    finally:
        session.close()
        if not keep:  # never answered: opened and quit, or a bad key (the advice said so)
            ctx.sessions.remove(session.path)
    return code


def resume_session(ctx: CliContext, ref: str | None, options: RunOptions, *, explicit_workspace: bool) -> int:
    """``agentcli resume``: open the file as its single writer and carry on from it.

    Without ``ref``, a person at a terminal picks one of the workspace's sessions.
    """
    from agentcli.store.durable import damage_as_error

    if ref is None:
        path = _picked(ctx, options)
    else:
        path = ctx.sessions.resolve(ref, ctx.workspace_root)
    prompt = read_prompt(options, required=False)
    # Opening checks the file before its first write; damage met later (a blob read
    # by a restore, say) still ends as one line, exit 2.
    with damage_as_error(path):
        return _resume(ctx, path, prompt, options, explicit_workspace=explicit_workspace)


def _resume(ctx: CliContext, path: Path, prompt: str | None, options: RunOptions, *,
            explicit_workspace: bool) -> int:
    from agentcli.agent.untrusted import session_origin

    session = Session.open(path, writer=True)
    try:
        meta = session.meta()
        origin = session_origin(path, ctx.sessions.path)  # a file from elsewhere decides nothing
        recorded = Path(meta.workspace_root)
        if origin.trusted and not explicit_workspace and recorded.is_dir() and recorded != ctx.workspace_root:
            ctx = CliContext(recorded, ctx.sessions)
        adopt = None if explicit_workspace else recorded
        if (withheld := origin.withhold(session, adopt, ctx.workspace_root)) is not None:
            sys.stderr.write(f"agentcli: warning: {withheld}\n")
        settings = settings_for(ctx, options, meta.settings, origin)
        session.update_meta(model=settings.model, endpoint_host=settings.endpoint_host,
                            settings=remembered_settings(settings))
        if prompt is not None:
            session.add_prompt(prompt, source="stdin" if options.prompt in (None, "-") else "argument")
        return _drive(ctx, session, settings, options, resumed=True)[0]
    finally:
        session.close()


def _picked(ctx: CliContext, options: RunOptions) -> Path:
    if not options.interactive:
        raise UsageError("no SESSION given: name one (an id, a prefix of 4+ characters, or 'last'); "
                         "agentcli list shows them")
    from agentcli.cli.repl import terminal_io
    from agentcli.cli.terminal.picker import choice_reader, pick_session

    io = terminal_io()
    return pick_session(io.console, ctx.sessions.entries(ctx.workspace_root), choice_reader(io)).path


def _drive(ctx: CliContext, session: Session, settings: Settings, options: RunOptions, *,
           resumed: bool) -> tuple[int, bool]:
    """Run the session to the end of this run: (exit code, whether the file is worth keeping)."""
    from agentcli.agent.cancel import CancelToken
    from agentcli.agent.secrets import redacting
    from agentcli.cli.driver import run_secrets
    from agentcli.cli.queued import hold_terminal_prompts
    from agentcli.cli.startup import started
    from agentcli.cli.worker import AgentWorker, signals_cancel

    if options.interactive:
        started()
        return _drive_terminal(ctx, session, settings, options, resumed=resumed), True
    session.redact_secrets(run_secrets(settings))
    emit = redacting(make_sink(options, settings), session.redactor)
    worker = AgentWorker(None)
    agent: Orchestrator = build_orchestrator(session, ctx.workspace_root, ctx.sessions.path, settings,
                                             emit, None)
    started()  # the garbage collector runs again from here
    announce(session, settings, options, emit, resumed)
    hold_terminal_prompts(session, agent, options.queued)  # typed ahead at a terminal: not this run's
    current = [CancelToken()]
    with signals_cancel(lambda: current[0]):
        try:
            result = worker.run(agent.run, current[0])
        finally:
            agent.model.close()
    if result.status == "interrupted":
        sys.stderr.write("\n")
    code = finish(session, result, options, emit, fresh=not resumed)
    return code, resumed or not unkept(session, result)


def _drive_terminal(ctx: CliContext, session: Session, settings: Settings, options: RunOptions, *,
                    resumed: bool) -> int:
    """A person at a terminal: the prompt-toolkit loop, every turn on the worker thread."""
    import warnings

    # A Ctrl-C that lands while prompt-toolkit is starting its input line leaves its
    # coroutine unstarted; Python would print a RuntimeWarning over the screen for it.
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
    from agentcli.cli.repl import terminal_io
    from agentcli.cli.worker import signals_cancel

    repl, sinks = terminal_repl(ctx, session, settings, options, terminal_io(), resumed=resumed)
    try:
        with signals_cancel(lambda: repl.current[0]):
            try:
                result = repl.run()
            finally:
                repl.agent.model.close()
                for _, other in repl.opened:
                    other.model.close()
        return finish(repl.session, result, options, sinks[repl.session.id])
    finally:
        for opened, _ in repl.opened:
            opened.close()


def terminal_repl(ctx: CliContext, session: Session, settings: Settings, options: RunOptions, io: TerminalIO,
                  *, resumed: bool) -> tuple[Repl, dict[str, EventSink]]:
    """Wire the terminal to a session: its view, the approval questions, the agent, the loop.

    Returns the loop and each session's event sink (``/new`` adds one).
    """
    from agentcli.agent.cancel import CancelToken
    from agentcli.agent.events import Event, serialized
    from agentcli.agent.secrets import redacting
    from agentcli.cli.driver import run_secrets
    from agentcli.cli.repl import Repl, line_reader
    from agentcli.cli.terminal.approval import TerminalAsker
    from agentcli.cli.terminal.recap import show_recap
    from agentcli.cli.terminal.view import TerminalView
    from agentcli.cli.worker import AgentWorker
    from agentcli.session.records import ORCHESTRATOR

    view = TerminalView(io.console, session)
    sink = serialized(view)
    worker = AgentWorker(TerminalAsker(io.console, line_reader(io), view))
    sinks: dict[str, EventSink] = {}

    def build(opened: Session) -> Orchestrator:
        opened.redact_secrets(run_secrets(settings))
        emit = sinks[opened.id] = redacting(sink, opened.redactor)
        agent = build_orchestrator(opened, ctx.workspace_root, ctx.sessions.path, settings, emit, worker.ask)
        # a running command's output, live (the shell tail above the prompt)
        toolbox = agent.runner.toolbox
        toolbox.ctx = replace(toolbox.ctx, on_output=lambda text: emit(
            Event("tool.output", {"agent": ORCHESTRATOR, "text": text})))
        return agent

    def open_new() -> tuple[Session, Orchestrator]:
        fresh = _create(ctx, settings, None, "terminal")
        agent = build(fresh)
        announce(fresh, settings, options, sinks[fresh.id], False)
        return fresh, agent

    agent = build(session)
    announce(session, settings, options, sinks[session.id], resumed)
    if resumed:
        show_recap(io.console, session)
    repl = Repl(session, agent, worker, [CancelToken()], io, view=view, root=ctx.workspace_root,
                settings=settings, open_new=open_new, protected=[session.path.parent, ctx.sessions.path])
    return repl, sinks
