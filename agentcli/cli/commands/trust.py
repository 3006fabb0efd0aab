"""``trust``: let a workspace's own ``agentcli.toml`` set what decides where the key goes.

A cloned repository can ship an ``agentcli.toml``. Until the user trusts that
workspace, the file may not set what decides where the key goes, what runs unasked or
what is spent (``agent/untrusted.py``: ``base_url``, ``approval``, ``shell_env``,
``prices``, ``model``, ``scout_model``, ``max_file_bytes``; ignored with a warning), and may
only lower limits; the trust is recorded in the user's config folder.
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
    typer.Argument(help="The workspace to trust (default: the current one), or a session file (.sqlite) "
                        "from elsewhere whose recorded endpoint, approval and grants resume may use."),
]
RevokeOpt = Annotated[bool, typer.Option("--revoke", help="Stop trusting the workspace.")]


def trust(folder: FolderArg = None, revoke: RevokeOpt = False, debug: DebugOpt = False) -> None:
    """Trust a workspace: its agentcli.toml may then set the endpoint, approval, model and limits,
    and its MCP servers start."""
    from agentcli.agent.config import SENSITIVE, is_trusted, trust_file, trusted_workspaces
    from agentcli.agent.config import trust as record_trust
    from agentcli.cli.options import workspace_root
    from agentcli.cli.render.text import clean

    if folder is not None and folder.suffix == ".sqlite" and folder.is_file():
        _trust_session_file(folder.resolve(), revoke)
        return
    root = workspace_root(folder)
    if revoke:
        kept = [p for p in trusted_workspaces() if p.resolve() != root]
        if not is_trusted(root):
            sys.stderr.write(clean(f"agentcli: {root} was not trusted\n"))
            return
        trust_file().write_text("".join(f"{p}\n" for p in kept))
        print(clean(f"no longer trusted: {root}"))
        return
    if not root.is_dir():
        raise UsageError(f"{root} is not a directory")
    record_trust(root)
    print(clean(f"trusted: {root} — its agentcli.toml may now set {', '.join(SENSITIVE)} and raise limits, "
                f"and its MCP servers (.mcp.json, [mcp_servers]) start (recorded in {trust_file()}; "
                "agentcli trust --revoke undoes it)"))


def _trust_session_file(path: Path, revoke: bool) -> None:
    """Trust (or stop trusting) one session file that was not made in a sessions folder of yours."""
    from agentcli.agent.config import is_trusted, trust_file, trusted_workspaces
    from agentcli.agent.config import trust as record_trust

    if revoke:
        if not is_trusted(path):
            sys.stderr.write(f"agentcli: {path} was not trusted\n")
            return
        trust_file().write_text("".join(f"{p}\n" for p in trusted_workspaces() if p.resolve() != path))
        print(f"no longer trusted: {path}")
        return
    record_trust(path)
    print(f"trusted: {path} — agentcli resume may use the endpoint, approval, model, limits and grants "
          f"it recorded (recorded in {trust_file()}; agentcli trust --revoke {path} undoes it)")


def register(app: typer.Typer) -> None:
    """Add ``trust`` to ``app``."""
    app.command(cls=LeanCommand)(trust)
