"""``compact``: summarise a session's older turns now, for scripts (``/compact`` in the terminal)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from agentcli.cli.commands.run import BaseUrlOpt, ContextOpt, ModelOpt
from agentcli.cli.options import DebugOpt, JsonOpt, SessionArg, SessionsDirOpt, WorkspaceOpt, make_context

if TYPE_CHECKING:
    from agentcli.agent.loop import AgentLoop
    from agentcli.session.records import CompactionRecord

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
        from agentcli.agent.secrets import redacting
        from agentcli.cli.driver import RunOptions, build_orchestrator, make_sink, run_secrets, settings_for
        from agentcli.cli.options import CliContext
        from agentcli.errors import UsageError
        from agentcli.session.records import ORCHESTRATOR
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
            opened.redact_secrets(run_secrets(settings))
            emit = redacting(make_sink(options), opened.redactor)
            agent = build_orchestrator(opened, ctx.workspace_root, ctx.sessions.path, settings, emit, None)
            opened.model_calls.close_pending(ORCHESTRATOR, "agentcli stopped before the answer arrived")
            try:
                record = _compact(agent.loop, keep)
            finally:
                agent.close()
            return _report(opened.id, record, json)


def _compact(loop: AgentLoop, keep: float | None) -> CompactionRecord | None:
    from agentcli.agent.cancel import NEVER
    from agentcli.agent.compaction import compact_now

    if keep is None:
        return compact_now(loop)
    return loop.compactor.compact(None, NEVER, loop.runner.schemas(), reason="manual", keep=keep)


def _report(session_id: str, record: CompactionRecord | None, json: bool) -> int:
    if record is None:
        sys.stderr.write(f"agentcli: nothing to compact in session {session_id}: its turns already fit "
                         "in what is kept verbatim\n")
        return 0
    if record.status != "done":
        sys.stderr.write(f"agentcli: the summary failed ({record.error}); the context is unchanged "
                         f"(try again: agentcli compact {session_id})\n")
        return 3
    if not json:
        sys.stdout.write(f"compacted session {session_id}: messages #{record.first_message_id}–"
                         f"#{record.last_message_id} summarised (about {record.tokens_before} → "
                         f"{record.tokens_after} tokens per request)\n")
    return 0
