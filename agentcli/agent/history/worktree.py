"""The files of a checkpoint, from the session alone, and a git worktree that holds them.

A session knows every file of its workspace: the baseline (``file_states``) is the last
scan of all of them, and every change the agent made is in the file log with both sides.
So the workspace at checkpoint N is the baseline with each path changed since N's
watermark put back to the before-side of its first change after it — what ``rollback
--to N`` would make of the workspace, computed without touching it. A fork with
``--worktree`` gets a git worktree of the same repository (detached at ``HEAD``) made to
hold exactly those files: written from the session's blobs, git's own files that were
not in the workspace removed.

Example:
    >>> files = files_at(session, session.checkpoints.get(2))
    >>> root = add_worktree(Path("/repo"), Path("/repo-try"))
    >>> write_files(root, files, session.blobs, source_root=Path("/repo")).not_restored
    []
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from agentcli.agent.history.disk import (
    FolderNotEmptyError,
    Side,
    before_side,
    disk_side,
    make_disk_show,
    read_inside,
    safe_path,
    state_of,
)
from agentcli.agent.workspace.jail import UnsafeFolderError, write_atomic
from agentcli.agent.workspace.treewalk import is_folder_mode
from agentcli.errors import UsageError

if TYPE_CHECKING:
    from agentcli.session.records import Checkpoint
    from agentcli.session.session import Session
    from agentcli.session.snapshots import PathState
    from agentcli.store.blobs import BlobStore

GIT_TIMEOUT_S = 300
_NO_LIMIT = 1 << 62
_NEVER_REMOVED = (".git", ".agentcli")  # git's own and agentcli's state: never a workspace file


class WorktreeError(UsageError):
    """The worktree cannot be made (not a repository, no commit, the folder is taken...)."""


@dataclass(frozen=True)
class Known:
    """What the session knows a path held: its side, and whether its content is stored."""

    side: Side
    restorable: bool = True


@dataclass
class Written:
    """What :func:`write_files` did: the baseline rows of the files as they now are, and the
    paths it could not give their content (not stored: over the size limit, unreadable)."""

    states: list[PathState] = field(default_factory=list)
    not_restored: list[str] = field(default_factory=list)


def files_at(session: Session, checkpoint: Checkpoint | None) -> dict[str, Known]:
    """Every path of the workspace as it was at ``checkpoint`` (None: as last seen)."""
    files: dict[str, Known] = {}
    for rel, state in session.snapshots.states().items():
        side = Side(state.mode) if is_folder_mode(state.mode) else Side(state.mode, state.hash, state.size)
        files[rel] = Known(side, bool(state.restorable))
    if checkpoint is None:
        return files
    seen: set[str] = set()
    for change in session.files.since(checkpoint.last_file_change_id):
        if change.path in seen:
            continue
        seen.add(change.path)
        before = before_side(change)
        if before.absent:
            files.pop(change.path, None)
        else:
            files[change.path] = Known(before, bool(change.restorable))
    return files


def git(args: Sequence[str], cwd: Path) -> str:
    """Run ``git ARGS`` in ``cwd``; its stdout, or :class:`WorktreeError` with git's last line."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise WorktreeError("--worktree needs git, which is not installed") from None
    except subprocess.TimeoutExpired:
        raise WorktreeError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        raise WorktreeError(f"git {args[0]}: {last}")
    return done.stdout


def add_worktree(source_root: Path, target: Path) -> Path:
    """A new worktree at ``target`` of the repository holding ``source_root``, detached at its
    ``HEAD``; returns the fork's workspace root in it (``source_root``'s place in the
    repository, under ``target``).

    Raises:
        WorktreeError: ``source_root`` is in no git repository, the repository has no
            commit, or ``target`` exists and is not an empty folder.
    """
    try:
        top = Path(git(["rev-parse", "--show-toplevel"], source_root).strip()).resolve()
    except WorktreeError:
        raise WorktreeError(f"--worktree makes a git worktree, and {source_root} is in no git repository "
                            "(fork without --worktree to copy only the conversation)") from None
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise WorktreeError(f"{target} already exists: --worktree needs a new (or empty) folder")
    try:
        git(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], top)
    except WorktreeError:
        raise WorktreeError(f"the repository {top} has no commit yet: a worktree starts from one") from None
    git(["worktree", "add", "--detach", "--quiet", str(target), "HEAD"], top)
    return target.resolve() / source_root.resolve().relative_to(top)


def remove_worktree(source_root: Path, target: Path) -> None:
    """Undo :func:`add_worktree` (a fork that failed after it); quietly, as far as it can."""
    with contextlib.suppress(WorktreeError, OSError):
        git(["worktree", "remove", "--force", str(target)], source_root)


def write_files(root: Path, files: dict[str, Known], blobs: BlobStore, *, source_root: Path) -> Written:
    """Make the worktree at ``root`` hold exactly ``files``: git's files that are not among them
    removed (never ``.git`` or ``.agentcli``), each of them written from ``blobs`` — or, for
    content the session did not store, copied from ``source_root`` when the file there is
    still that content."""
    written = Written()
    tracked = [name for name in git(["ls-files", "-z"], root).split("\0") if name]
    for rel in sorted(set(tracked) - set(files), reverse=True):
        if PurePosixPath(rel).parts[0] in _NEVER_REMOVED:
            continue
        with contextlib.suppress(FolderNotEmptyError, UnsafeFolderError, OSError):
            make_disk_show(safe_path(root, rel), Side(), blobs, root=root)
            _remove_empty_parents(root, rel, files)
    for rel in sorted(files):
        known = files[rel]
        path = safe_path(root, rel)
        try:
            current = disk_side(path, None, _NO_LIMIT, root=root)
            if not current.same(known.side):
                _write(path, known.side, blobs, current, root, (source_root, rel))
        except (KeyError, FolderNotEmptyError, UnsafeFolderError, OSError):
            written.not_restored.append(rel)
        now = disk_side(path, None, _NO_LIMIT, root=root)
        with contextlib.suppress(FileNotFoundError):
            state = state_of(rel, path, now, known.restorable, root=root)
            if state is not None:
                written.states.append(state)
    return written


def _write(path: Path, side: Side, blobs: BlobStore, current: Side, root: Path,
           source: tuple[Path, str]) -> None:
    """``make_disk_show``; for content not in ``blobs``, the same bytes from the workspace's
    own file (``source``: its root and the path), when it still holds them."""
    try:
        make_disk_show(path, side, blobs, current, root=root)
    except KeyError:
        source_root, rel = source
        found = read_inside(safe_path(source_root, rel), source_root, _NO_LIMIT)
        if found is None or found[0] != side.hash or found[1] is None:
            raise
        write_atomic(path, found[1], (side.mode or 0) & 0o7777, root=root)


def _remove_empty_parents(root: Path, rel: str, files: dict[str, Known]) -> None:
    for parent in PurePosixPath(rel).parents:
        name = parent.as_posix()
        if name == "." or name in files:
            return
        try:
            os.rmdir(safe_path(root, name))
        except OSError:
            return
