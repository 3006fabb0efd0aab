"""The two ways to drive a session: start a new one, or resume one from its file."""

from __future__ import annotations

import sys
from pathlib import Path

from agentcli.agent.loop import Orchestrator, TurnResult
from agentcli.cli.driver import (
    RunOptions,
    announce,
    build_orchestrator,
    finish,
    make_sink,
    read_prompt,
    remembered_settings,
    settings_for,
    signals_as_interrupts,
)
from agentcli.cli.options import CliContext
from agentcli.session.session import Session


def start_session(ctx: CliContext, options: RunOptions) -> int:
    """``agentcli new``: create the session file, then run like a resume."""
    from agentcli.agent.failpoints import failpoint
    from agentcli.agent.system_prompt import instruction_folders, system_prompt

    prompt = read_prompt(options, required=True)
    settings = settings_for(ctx, options)
    session = ctx.sessions.create(  # schema, meta, system message and prompt: one atomic step
        workspace_root=ctx.workspace_root, model=settings.model,
        endpoint_host=settings.endpoint_host, settings=remembered_settings(settings),
        system=system_prompt(ctx.workspace_root, settings.approval or "ask",
                             instruction_folders(ctx.workspace_root, Path.cwd())), prompt=prompt,
        prompt_source="stdin" if options.prompt in (None, "-") else "argument", step=failpoint,
    )
    try:
        return _drive(ctx, session, settings, options, resumed=False)
    finally:
        session.close()


def resume_session(ctx: CliContext, ref: str, options: RunOptions, *, explicit_workspace: bool) -> int:
    """``agentcli resume``: open the file as its single writer and carry on from it."""
    path = ctx.sessions.resolve(ref, ctx.workspace_root)
    prompt = read_prompt(options, required=False)
    session = Session.open(path, writer=True)
    try:
        meta = session.meta()
        recorded = Path(meta.workspace_root)
        if not explicit_workspace and recorded.is_dir() and recorded != ctx.workspace_root:
            ctx = CliContext(recorded, ctx.sessions)
        settings = settings_for(ctx, options, meta.settings)
        session.update_meta(model=settings.model, endpoint_host=settings.endpoint_host,
                            settings=remembered_settings(settings))
        if prompt is not None:
            session.add_prompt(prompt, source="stdin" if options.prompt in (None, "-") else "argument")
        return _drive(ctx, session, settings, options, resumed=True)
    finally:
        session.close()


def _drive(ctx: CliContext, session: Session, settings, options: RunOptions, *, resumed: bool) -> int:
    from agentcli.cli.repl import ask_in_terminal, run_repl

    emit = make_sink(options)
    ask = ask_in_terminal if options.interactive else None
    agent: Orchestrator = build_orchestrator(session, ctx.workspace_root, ctx.sessions.path, settings,
                                             emit, ask)
    announce(session, settings, options, emit, resumed)
    with signals_as_interrupts():
        try:
            result = agent.run()
            if options.interactive:
                result = run_repl(session, agent)
        except KeyboardInterrupt:
            result = TurnResult("interrupted", error="interrupted: the session is saved; "
                                f"continue with: agentcli resume {session.id}")
            session.update_meta(status="interrupted")
            sys.stderr.write("\n")
        finally:
            agent.client.close()
    return finish(session, result, options, emit)
