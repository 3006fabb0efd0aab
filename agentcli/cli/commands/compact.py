"""``compact``: summarise a session's older turns now, for scripts (``/compact`` in the terminal)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from agentcli.cli.commands.run import BaseUrlOpt, ContextOpt, ModelOpt
from agentcli.cli.options import DebugOpt, JsonOpt, SessionArg, SessionsDirOpt, WorkspaceOpt, make_context

KeepOpt = Annotated[
    Optional[float],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--keep", help="Share of the window the newest turns keep verbatim "
                                "(default 0: the newest step only)."),
]


def register(app: typer.Typer) -> None:
    """Add ``compact`` to ``app``."""

    @app.command()
    def compact(
        session: SessionArg,
        json: JsonOpt = False,
        model: ModelOpt = None,
        base_url: BaseUrlOpt = None,
        context_window: ContextOpt = None,
        keep: KeepOpt = None,
        workspace: WorkspaceOpt = None,
        sessions_dir: SessionsDirOpt = None,
        debug: DebugOpt = False,
    ) -> int:
        """Compact SESSION's context now: its older turns are summarised by one model call.

        The transcript stays whole in the file; later requests carry the summary instead.
        """
        from agentcli.agent.engine.engine import Engine
        from agentcli.agent.engine.operations import Compact
        from agentcli.cli.launch import settings_for
        from agentcli.cli.options import CliContext, RunOptions
        from agentcli.cli.scripted import make_sink
        from agentcli.errors import UsageError
        from agentcli.session.session import Session

        if keep is not None and not 0 <= keep < 1:
            raise UsageError("--keep must be a share of the window, from 0 to below 1")
        ctx = make_context(workspace, sessions_dir)
        path = ctx.sessions.resolve(session, ctx.workspace_root)
        options = RunOptions(None, True, json, {"model": model, "base_url": base_url,
                                                "context_window": context_window})
        with Session.open(path, writer=True) as opened:
            recorded = Path(opened.meta().workspace_root)
            if workspace is None and recorded.is_dir() and recorded != ctx.workspace_root:
                ctx = CliContext(recorded, ctx.sessions)
            settings = settings_for(ctx, options, opened.meta().settings)
            outcome: dict = {}
            sink = make_sink(options)

            def emit(event) -> None:  # noqa: ANN001 - an Event
                if event.type == "compact.finished":
                    outcome.update(event.data)
                sink(event)

            with Engine(opened, settings, ctx.place, sink=emit, interactive=False) as engine:
                engine.submit(Compact(keep))
                engine.wait()
            if engine.fatal is not None:
                raise engine.fatal
            return _report(opened.id, outcome, json)


def _report(session_id: str, outcome: dict, json: bool) -> int:
    from agentcli.cli.render.text import clean

    status = outcome.get("status")
    if status == "nothing":
        sys.stderr.write(f"agentcli: nothing to compact in session {session_id}: its turns already fit "
                         "in what is kept verbatim\n")
        return 0
    if status == "interrupted":
        sys.stderr.write(clean(f"agentcli: compaction stopped ({outcome.get('error')}); the context is "
                               "unchanged\n"))
        return 130
    if status != "done":
        sys.stderr.write(clean(f"agentcli: the summary failed ({outcome.get('error')}); the context is "
                               f"unchanged (try again: agentcli compact {session_id})\n"))
        return 3
    if not json:
        before, after = outcome.get("tokens_before"), outcome.get("tokens_after")
        sizes = f" (about {before} → {after} tokens per request)" if before and after else ""
        sys.stdout.write(f"compacted session {session_id}: messages #{outcome['first_message']}–"
                         f"#{outcome['last_message']} summarised{sizes}\n")
    return 0
