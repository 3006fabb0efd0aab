"""``agentcli acp``: serve the Agent Client Protocol on stdio, for editors (SPEC §9)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from agentcli.cli.commands.run import (
    ApprovalOpt,
    BaseUrlOpt,
    ContextOpt,
    MaxTurnsOpt,
    McpConfigOpt,
    ModelOpt,
    NetworkOpt,
    SandboxOpt,
)
from agentcli.cli.lean import LeanCommand
from agentcli.cli.options import DebugOpt, SessionsDirOpt

LogFileOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--log-file", help="Write the log here instead of stderr (stdout is the protocol's)."),
]
FLAGS = ("model", "base_url", "approval", "max_turns", "context_window", "sandbox", "network", "mcp_config")


def register(app: typer.Typer) -> None:
    """Add ``acp`` to ``app``."""

    @app.command(cls=LeanCommand)
    def acp(model: ModelOpt = None, base_url: BaseUrlOpt = None, approval: ApprovalOpt = None,
            max_turns: MaxTurnsOpt = None, context_window: ContextOpt = None, sandbox: SandboxOpt = None,
            network: NetworkOpt = None, mcp_config: McpConfigOpt = None, sessions_dir: SessionsDirOpt = None,
            log_file: LogFileOpt = None, debug: DebugOpt = False) -> int:
        """Serve the Agent Client Protocol on stdin/stdout, for an editor (Zed, JetBrains, Neovim, Emacs).

        Each session the editor opens is a session file of the workspace it names, as
        agentcli new would make it there; session/load reopens one, replays it, and finishes
        an interrupted turn. The options are the defaults of every session it opens."""
        from agentcli.cli.acp.opening import AcpOptions
        from agentcli.cli.acp.server import serve
        from agentcli.cli.options import require_utf8

        given: dict[str, Any] = {"model": model, "base_url": base_url, "approval": approval,
                                 "max_turns": max_turns, "context_window": context_window, "sandbox": sandbox,
                                 "network": network, "mcp_config": mcp_config}
        for name, value in given.items():
            if isinstance(value, str):
                require_utf8(value, f"--{name.replace('_', '-')}")
        folder = sessions_dir.expanduser().resolve() if sessions_dir is not None else None
        options = AcpOptions({name: given[name] for name in FLAGS}, folder)
        return serve(options, log_file=log_file, debug=debug)
