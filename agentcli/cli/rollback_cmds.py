"""``rollback``, ``checkpoints`` and ``diff`` (SPEC §5)."""

from __future__ import annotations

import typer

from agentcli.cli.options import DebugOpt, SessionArg
from agentcli.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add the rollback commands to ``app``."""

    @app.command()
    def rollback(session: SessionArg, debug: DebugOpt = False) -> None:
        """Restore files and conversation to a checkpoint (not built yet)."""
        raise UsageError("rollback is not built yet")
