"""Options shared by the commands, and the context they resolve to."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from agentcli.errors import UsageError

if TYPE_CHECKING:
    from agentcli.agent.engine.launch import Place
    from agentcli.session.directory import SessionDirectory

STATE_DIR = ".agentcli"
"""agentcli's one folder at the workspace root: sessions, input history, a ``.gitignore`` of ``*``."""

SessionArg = Annotated[
    str, typer.Argument(help="Session id, a unique prefix of 4+ characters, 'last', or a .sqlite path.")
]
WorkspaceOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--workspace", "-C",
                 help="Workspace root (default: the enclosing git work tree's root, else the current "
                      "directory)."),
]
SessionsDirOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--sessions-dir",
        help="Folder of session files (default: $AGENTCLI_SESSIONS_DIR, else .agentcli/sessions at the "
             "workspace root).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show Python tracebacks on errors.")]


@dataclass
class CliContext:
    """Where a command works: the workspace root, agentcli's state folder there, the sessions folder.

    ``root_source`` says how the root was chosen: ``-C``, ``git`` or ``cwd``; ``sessions_source``
    how the sessions folder was: ``--sessions-dir``, ``AGENTCLI_SESSIONS_DIR`` or ``default``.
    """

    workspace_root: Path
    sessions: SessionDirectory
    root_source: str = "cwd"
    sessions_source: str = "default"

    @property
    def place(self) -> Place:
        """The workspace root and sessions folder, as the engine takes them."""
        from agentcli.agent.engine.launch import Place

        return Place(self.workspace_root, self.sessions)

    @property
    def state_dir(self) -> Path:
        """``.agentcli/`` at the workspace root."""
        return self.workspace_root / STATE_DIR

    def protected(self) -> list[Path]:
        """agentcli's own files, which the tools may not touch: its state folder, the
        sessions folder and the workspace's ``agentcli.toml``."""
        return [self.state_dir, self.sessions.path, self.workspace_root / "agentcli.toml"]


def require_utf8(text: str, what: str,
                 fix: str = "give it as UTF-8 (convert it with iconv -t UTF-8, or check the locale)") -> str:
    """``text`` as given, or one line (exit 2) when it is not UTF-8: Python decodes such
    command-line bytes to lone surrogates, which no session file (UTF-8 text) can hold.

    Example:
        >>> require_utf8("caf\\udce9", "the prompt argument")
        Traceback (most recent call last):
        UsageError: the prompt argument is not UTF-8 text (byte 0xe9 at offset 3); ...
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raw = text.encode("utf-8", "surrogateescape")
        offset = len(text[:err.start].encode("utf-8", "surrogateescape"))
        message = f"{what} is not UTF-8 text (byte {raw[offset]:#04x} at offset {offset}); {fix}"
        raise UsageError(message) from None
    return text


def git_work_tree(start: Path) -> Path | None:
    """The root of the git work tree holding ``start`` (a folder with ``.git``), or None.

    Like git's ``safe.directory``: a ``.git`` that belongs to another user (``/tmp/.git``
    made by a neighbour) makes no workspace root; the search stops there (see
    :func:`foreign_git`)."""
    found = _nearest_git(start)
    return found[0].parent if found is not None and found[1] == os.geteuid() else None


def foreign_git(start: Path) -> Path | None:
    """The nearest ``.git`` above ``start`` when it belongs to another user, else None."""
    found = _nearest_git(start)
    return found[0] if found is not None and found[1] != os.geteuid() else None


def _nearest_git(start: Path) -> tuple[Path, int] | None:
    """The nearest ``.git`` (folder or file) at or above ``start``, and its owner's uid."""
    from agentcli.store.owned import lstat_or_none

    for folder in (start, *start.parents):
        st = lstat_or_none(folder / ".git")
        if st is not None:
            return folder / ".git", st.st_uid
    return None


def workspace_root(workspace: Path | None) -> Path:
    """The workspace root: ``-C DIR``, else the enclosing git work tree's root, else the
    current directory (absolute, resolved)."""
    return locate_workspace(workspace)[0]


def locate_workspace(workspace: Path | None, start: Path | None = None) -> tuple[Path, str]:
    """The workspace root and how it was chosen: ``-C``, ``git`` or ``cwd``; ``start`` is
    the folder to look from (default: the current directory)."""
    if workspace is not None:
        root = workspace.expanduser()
        if not root.is_dir():
            raise UsageError(f"workspace {root} is not a directory")
        return root.resolve(), "-C"
    cwd = (start or Path.cwd()).resolve()
    repo = git_work_tree(cwd)
    if repo is None and (foreign := foreign_git(cwd)) is not None:
        sys.stderr.write(f"agentcli: warning: {foreign} belongs to another user, so its folder is not taken "
                         f"as the workspace root; working in {cwd} (-C DIR chooses another)\n")
    return (repo, "git") if repo is not None else (cwd, "cwd")


def make_context(workspace: Path | None, sessions_dir: Path | None, start: Path | None = None) -> CliContext:
    """Resolve ``-C`` and ``--sessions-dir`` into absolute paths (one clear error if bad);
    without ``-C`` the root is found from ``start`` (default: the current directory)."""
    from agentcli.session.directory import SessionDirectory

    root, root_source = locate_workspace(workspace, start)
    if sessions_dir is not None:
        folder, source = sessions_dir, "--sessions-dir"
    elif os.environ.get("AGENTCLI_SESSIONS_DIR"):
        folder, source = Path(os.environ["AGENTCLI_SESSIONS_DIR"]), "AGENTCLI_SESSIONS_DIR"
    else:
        folder, source = root / STATE_DIR / "sessions", "default"
    folder = folder.expanduser()
    if not folder.is_absolute():
        folder = Path.cwd() / folder
    folder = folder.resolve()
    legacy = root / "sessions" if source == "default" else None
    sessions = SessionDirectory(folder, state_dir=root / STATE_DIR, legacy=legacy)
    check_state(root / STATE_DIR, folder if source != "default" else None)
    return CliContext(root, sessions, root_source, source)


def check_state(state_dir: Path, sessions_dir: Path | None) -> None:
    """Refuse agentcli's state folder, or a sessions folder named by the user, that is
    not this user's own (one line, exit 2), and say what was put right on stderr
    (``session/state_folder.py``)."""
    from agentcli.session.state_folder import check_sessions_folder, check_state_folder

    for note in check_state_folder(state_dir):
        sys.stderr.write(f"agentcli: warning: {note}\n")
    if sessions_dir is not None:
        check_sessions_folder(sessions_dir, ours=False)


@dataclass
class RunOptions:
    """What the user asked for on the command line."""

    prompt: str | None
    print_mode: bool
    json: bool
    flags: dict[str, Any] = field(default_factory=dict)
    queued: str = "skip"  # resume --queued: prompts typed ahead at a terminal (cli/queued.py)

    @property
    def interactive(self) -> bool:
        """A person at a terminal, who can be asked and can type more prompts."""
        return not (self.print_mode or self.json) and sys.stdin.isatty()
