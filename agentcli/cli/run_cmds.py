"""``new`` and ``resume``: drive a session."""

from __future__ import annotations

import typer

from agentcli.cli.options import DebugOpt, SessionArg
from agentcli.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add the commands that drive the agent to ``app``."""

    @app.command()
    def new(debug: DebugOpt = False) -> None:
        """Start a session (not built yet)."""
        raise UsageError("new is not built yet")

    @app.command()
    def resume(session: SessionArg, debug: DebugOpt = False) -> None:
        """Continue a session (not built yet)."""
        raise UsageError("resume is not built yet")
