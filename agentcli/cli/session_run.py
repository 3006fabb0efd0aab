"""The two ways to drive a session: start a new one, or resume one from its file."""

from __future__ import annotations

import sys
from pathlib import Path

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
    keep = True
    try:
        code, keep = _drive(ctx, session, settings, options, resumed=False)
    finally:
        session.close()
        if not keep:  # never answered: opened and quit, or a bad key (the advice said so)
            ctx.sessions.remove(session.path)
    return code


def resume_session(ctx: CliContext, ref: str, options: RunOptions, *, explicit_workspace: bool) -> int:
    """``agentcli resume``: open the file as its single writer and carry on from it."""
    from agentcli.store.durable import damage_as_error

    path = ctx.sessions.resolve(ref, ctx.workspace_root)
    prompt = read_prompt(options, required=False)
    # Opening checks the file before its first write; damage met later (a blob read
    # by a restore, say) still ends as one line, exit 2.
    with damage_as_error(path):
        return _resume(ctx, path, prompt, options, explicit_workspace=explicit_workspace)


def _resume(ctx: CliContext, path: Path, prompt: str | None, options: RunOptions, *,
            explicit_workspace: bool) -> int:
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
        return _drive(ctx, session, settings, options, resumed=True)[0]
    finally:
        session.close()


def _drive(ctx: CliContext, session: Session, settings, options: RunOptions, *,
           resumed: bool) -> tuple[int, bool]:
    """Run the session to the end of this run: (exit code, whether the file is worth keeping)."""
    from agentcli.agent.cancel import CancelToken
    from agentcli.agent.secrets import redacting
    from agentcli.cli.driver import run_secrets
    from agentcli.cli.repl import ask_in_terminal, run_repl
    from agentcli.cli.worker import AgentWorker, signals_cancel

    session.redact_secrets(run_secrets(settings))
    emit = redacting(make_sink(options, settings), session.redactor)
    worker = AgentWorker(ask_in_terminal if options.interactive else None)
    agent: Orchestrator = build_orchestrator(session, ctx.workspace_root, ctx.sessions.path, settings,
                                             emit, worker.ask if worker.can_ask else None)
    announce(session, settings, options, emit, resumed)
    current = [CancelToken()]
    # In a terminal Ctrl-C drops the running turn and returns to the prompt; in a
    # scripted run it stops the run, which stays resumable (exit 130).
    ctrl_c = (lambda: current[0].cancel("Ctrl-C", resumable=False)) if options.interactive else None
    with signals_cancel(lambda: current[0]):
        try:
            result = worker.run(agent.run, current[0], on_interrupt=ctrl_c)
            if options.interactive and not (result.status == "interrupted" and result.resumable):
                if result.status == "interrupted":
                    sys.stdout.write("\n(turn stopped — the session is saved)\n")
                result = run_repl(session, agent, worker, current)
        finally:
            agent.model.close()
    if result.status == "interrupted" and not options.interactive:
        sys.stderr.write("\n")
    code = finish(session, result, options, emit, fresh=not resumed)
    return code, resumed or not unkept(session, result)
