"""``trust``: let a workspace's own ``agentcli.toml`` set what decides where the key goes.

A cloned repository can ship an ``agentcli.toml``. Until the user trusts that
workspace, the file may not set ``base_url``, ``approval`` or ``shell_env`` (they are
ignored with a warning); the trust is recorded in the user's config folder.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from agentcli.cli.lean import LeanCommand
from agentcli.cli.options import DebugOpt
from agentcli.errors import UsageError

FolderArg = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
    typer.Argument(help="The workspace to trust (default: the current one)."),
]
RevokeOpt = Annotated[bool, typer.Option("--revoke", help="Stop trusting the workspace.")]


def trust(folder: FolderArg = None, revoke: RevokeOpt = False, debug: DebugOpt = False) -> None:
    """Trust a workspace: its agentcli.toml may then set base_url, approval and shell_env, and
    its MCP servers start."""
    from agentcli.agent.config import SENSITIVE, is_trusted, trust_file, trusted_workspaces
    from agentcli.agent.config import trust as record_trust
    from agentcli.cli.options import workspace_root

    root = workspace_root(folder)
    if revoke:
        kept = [p for p in trusted_workspaces() if p.resolve() != root]
        if not is_trusted(root):
            sys.stderr.write(f"agentcli: {root} was not trusted\n")
            return
        trust_file().write_text("".join(f"{p}\n" for p in kept))
        print(f"no longer trusted: {root}")
        return
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    record_trust(root)
    print(f"trusted: {root} — its agentcli.toml may now set {', '.join(SENSITIVE)}, and its MCP "
          f"servers (.mcp.json, [mcp_servers]) start (recorded in {trust_file()}; agentcli trust --revoke "
          "undoes it)")


def register(app: typer.Typer) -> None:
    """Add ``trust`` to ``app``."""
    app.command(cls=LeanCommand)(trust)
