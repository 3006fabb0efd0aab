"""Options shared by the commands, and the context they resolve to."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from agentcli.errors import UsageError

if TYPE_CHECKING:
    from agentcli.session.directory import SessionDirectory

SessionArg = Annotated[
    str, typer.Argument(help="Session id, a unique prefix of 4+ characters, 'last', or a .sqlite path.")
]
WorkspaceOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--workspace", "-C", help="Workspace root (default: the current directory)."),
]
SessionsDirOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--sessions-dir",
        help="Folder of session files (default: $AGENTCLI_SESSIONS_DIR, else ./sessions in the workspace).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks on errors.")]


@dataclass
class CliContext:
    """Where a command works: the workspace root and its sessions folder."""

    workspace_root: Path
    sessions: SessionDirectory


def workspace_root(workspace: Path | None) -> Path:
    """The workspace root: ``-C DIR``, else the current directory, absolute."""
    root = (workspace or Path.cwd()).expanduser()
    if not root.is_dir():
        raise UsageError(f"workspace {root} is not a directory")
    return root.resolve()


def make_context(workspace: Path | None, sessions_dir: Path | None) -> CliContext:
    """Resolve ``-C`` and ``--sessions-dir`` into absolute paths (one clear error if bad)."""
    root = workspace_root(workspace)
    folder = sessions_dir or (Path(os.environ["AGENTCLI_SESSIONS_DIR"])
                              if os.environ.get("AGENTCLI_SESSIONS_DIR") else root / "sessions")
    from agentcli.session.directory import SessionDirectory

    folder = folder.expanduser()
    if not folder.is_absolute():
        folder = Path.cwd() / folder
    return CliContext(root, SessionDirectory(folder.resolve()))
