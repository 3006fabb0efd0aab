"""Read-only commands: list, show, log, export, rm."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the read-only commands to ``app``."""
