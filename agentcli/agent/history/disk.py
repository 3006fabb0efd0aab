"""One path's state on disk, read cheaply and put back exactly: the tracker's and the
rollback's shared ground.

A :class:`Side` is what a ``file_changes`` row says one side of a change looked like:
absent (``mode`` None), a folder, a symlink (content: its target) or a regular file
(content hash and permission bits). :func:`disk_side` reads it from the disk, trusting
a baseline row whose stat key still matches; :func:`make_disk_show` writes it back.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from agentcli.agent.workspace.gitignore import GIT_DIR
from agentcli.agent.workspace.jail import (
    UnsafeFolderError,
    chmod_at,
    fsync_folder,
    parent_folder,
    temporary_name,
    write_atomic,
)
from agentcli.agent.workspace.treewalk import StatKey, is_folder_mode, is_link_mode, tracked_mode
from agentcli.errors import SessionFileError
from agentcli.session.records import FileChange
from agentcli.session.snapshots import PathState
from agentcli.store.blobs import BlobStore

DEFAULT_MAX_FILE_BYTES = 20_000_000  # larger files are tracked by hash only: not restorable
HASH_CHUNK = 1 << 20
_RACY_NS = 50_000_000  # timestamps tick at most every jiffy on Linux file systems
_RACY_COARSE_NS = 2_000_000_000  # file systems that keep whole seconds


class UnsafePathError(SessionFileError):
    """A logged path that would leave the workspace or enter ``.git``: never touched."""


class FolderNotEmptyError(OSError):
    """A folder to remove still holds files agentcli does not track."""


# The "hash" of a path this process may not read (mode 000, or a folder on the way it
# may not search): it matches no logged state, so the path counts as changed outside
# agentcli, and its content cannot be kept for an undo.
UNREADABLE = "unreadable: permission denied"


@dataclass(frozen=True)
class Side:
    """One side of a change: ``mode`` None means absent; ``hash`` None for a folder."""

    mode: int | None = None
    hash: str | None = None
    size: int | None = None

    @property
    def absent(self) -> bool:
        """True when there is nothing at the path."""
        return self.mode is None

    def same(self, other: Side) -> bool:
        """Same kind, content and mode (sizes follow from hashes)."""
        return self.mode == other.mode and self.hash == other.hash


def before_side(change: FileChange) -> Side:
    """The state a change started from."""
    return Side(change.before_mode, change.before_hash, change.before_size)


def after_side(change: FileChange) -> Side:
    """The state a change left."""
    return Side(change.after_mode, change.after_hash, change.after_size)


def change_op(before: Side, after: Side) -> str:
    """``create``, ``delete``, ``mode`` (same content, new permissions) or ``modify``."""
    if before.absent:
        return "create"
    if after.absent:
        return "delete"
    if before.hash == after.hash and stat.S_IFMT(before.mode or 0) == stat.S_IFMT(after.mode or 0):
        return "mode"
    return "modify"


def safe_path(root: Path, rel: str) -> Path:
    """The absolute path of a logged relative path, refusing anything that leaves ``root``.

    The check is on the name alone: symlinks on the way are dealt with where the path is
    used, by walking its folders without following them (a path below a symlinked folder
    is not in the workspace, so it reads as absent and is written only once the folder
    is a folder again).

    Raises:
        UnsafePathError: empty, absolute, ``..`` or ``.``, or inside ``.git``.
    """
    parts = PurePosixPath(rel).parts
    if not rel or rel.startswith("/") or any(p in ("..", ".", "") for p in parts) or any(
        p.casefold() == GIT_DIR for p in parts
    ) or "\x00" in rel:
        raise UnsafePathError(f"the session logs an unsafe path {rel!r}; it was left alone")
    return root.joinpath(*parts)


def is_racy(state: PathState) -> bool:
    """True when a write in the same timestamp tick as the last hash could go unseen."""
    window = _RACY_COARSE_NS if state.ctime_ns % 1_000_000_000 == 0 else _RACY_NS
    return state.ctime_ns + window > state.checked_ns


def state_key(state: PathState) -> StatKey | None:
    """What ``stat_key`` of the path must equal for the baseline row to be trusted
    (None when the row is racy, or a folder: then it is never trusted blindly)."""
    kind = state.mode & 0o170000  # kept for symlinks and folders; 0 for a regular file
    if kind == stat.S_IFDIR or is_racy(state):
        return None
    return state.mode | (kind or stat.S_IFREG), state.size, state.mtime_ns, state.ctime_ns, state.inode


def stat_key(st: os.stat_result) -> StatKey:
    """The stat fields a content change would move (type and mode bits, size, times, inode)."""
    return st.st_mode & 0o177777, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def stat_matches(state: PathState, st: os.stat_result) -> bool:
    """True when ``st`` shows the same file the baseline row describes (and not racy)."""
    key = state_key(state)
    return key is not None and key == stat_key(st)


def read_content(path: Path, st: os.stat_result, max_bytes: int,
                 folder: int | None = None) -> tuple[str, bytes | None]:
    """A file's or symlink's hash, and its bytes unless over ``max_bytes`` (then None).

    With ``folder`` (an open descriptor of its folder) the entry is read by name relative
    to it, and a file swapped for a symlink since the ``lstat`` is refused, not followed.
    """
    where: str | Path = path if folder is None else path.name
    if stat.S_ISLNK(st.st_mode):
        data = os.fsencode(os.readlink(where, dir_fd=folder))
        return hashlib.sha256(data).hexdigest(), data
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    with open(os.open(where, flags, dir_fd=folder), "rb") as handle:
        if st.st_size <= max_bytes:
            data = handle.read()
            if len(data) <= max_bytes:
                return hashlib.sha256(data).hexdigest(), data
            return hashlib.sha256(data).hexdigest(), None
        digest = hashlib.sha256()
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest(), None


def lstat_inside(path: Path, root: Path) -> os.stat_result | None:
    """``lstat`` of a path inside ``root``, None when absent — or below a symlink or a
    file, which puts it outside the workspace: never looked at through it."""
    try:
        with parent_folder(path, root=root) as (folder, name):
            return os.stat(name, dir_fd=folder, follow_symlinks=False)
    except (FileNotFoundError, UnsafeFolderError):
        return None


def read_inside(path: Path, root: Path, max_bytes: int) -> tuple[str, bytes | None] | None:
    """:func:`read_content` of a file or symlink inside ``root`` (None when absent or not one)."""
    try:
        with parent_folder(path, root=root) as (folder, name):
            st = os.stat(name, dir_fd=folder, follow_symlinks=False)
            if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
                return None
            return read_content(path, st, max_bytes, folder)
    except (FileNotFoundError, PermissionError, UnsafeFolderError):
        return None


def disk_side(path: Path, known: PathState | None, max_bytes: int, *, root: Path) -> Side:
    """What is at ``path`` (inside ``root``) now; a matching baseline row spares reading the file.

    A path below a symlinked folder is absent: what lies behind the symlink is not the
    workspace's. One this process may not read shows as :data:`UNREADABLE`.
    """
    st = None
    try:
        with parent_folder(path, root=root) as (folder, name):
            st = os.stat(name, dir_fd=folder, follow_symlinks=False)
            mode = tracked_mode(st.st_mode)
            if mode is None:  # a socket, a fifo, a device: matches no logged state
                return Side(st.st_mode & 0o177777, "not a file or folder")
            if is_folder_mode(mode):
                return Side(mode)
            if known is not None and known.hash not in (None, UNREADABLE) and stat_matches(known, st):
                return Side(mode, known.hash, st.st_size)
            digest, _data = read_content(path, st, max_bytes, folder)
            return Side(mode, digest, st.st_size)
    except (FileNotFoundError, UnsafeFolderError):
        return Side()
    except PermissionError:
        if st is None:  # a folder on the way we may not search: what is there is unknown
            return Side(0, UNREADABLE)
        return Side(tracked_mode(st.st_mode), UNREADABLE, st.st_size)


def state_of(rel: str, path: Path, side: Side, restorable: bool = True, *, root: Path) -> PathState | None:
    """The baseline row for ``path`` now that it shows ``side`` (None when absent)."""
    if side.absent:
        return None
    st = lstat_inside(path, root)
    if st is None:
        raise FileNotFoundError(errno.ENOENT, f"{rel} is not in the workspace")
    if is_folder_mode(side.mode):
        return PathState(rel, tracked_mode(st.st_mode) or 0, 0, 0, 0, st.st_ino, None, True, 0)
    return PathState(rel, tracked_mode(st.st_mode) or 0, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                     st.st_ino, side.hash, restorable, time.time_ns())


def make_disk_show(path: Path, side: Side, blobs: BlobStore, current: Side | None = None, *,
                   root: Path) -> None:
    """Make ``path`` (inside ``root``) show ``side`` exactly: bytes, symlink target, folder,
    mode or absence.

    Folders are walked from ``root`` without following symlinks: the place checked is
    the place written. A symlink at ``path`` is the thing replaced, never followed.
    ``current`` (what :func:`disk_side` read) lets a mode-only change skip the write.

    Raises:
        FolderNotEmptyError: a folder to remove (or to replace) still holds other files.
        UnsafeFolderError: a folder on the way is a symlink or a file.
        KeyError: the content's blob is not stored.
    """
    if side.absent and lstat_inside(path, root) is None:
        return  # nothing there, or only behind a symlink: nothing of ours to remove
    permissions = stat.S_IMODE(side.mode or 0)
    with parent_folder(path, root=root, create=True) as (folder, name):
        try:
            st: os.stat_result | None = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            st = None
        if st is not None and (side.absent or stat.S_IFMT(st.st_mode) != _kind(side.mode)):
            _remove(folder, name, st)
            st = None
        if side.absent:
            fsync_folder(folder)
            return
        if is_folder_mode(side.mode):
            if st is None:
                os.mkdir(name, 0o700, dir_fd=folder)
            chmod_at(folder, name, permissions)
            return
        if is_link_mode(side.mode):
            target = os.fsdecode(blobs.get(side.hash or ""))
            tmp = temporary_name(name)
            os.symlink(target, tmp, dir_fd=folder)
            os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
            fsync_folder(folder)
            return
        if st is not None and current is not None and current.hash == side.hash:
            chmod_at(folder, name, permissions)
            return
    write_atomic(path, blobs.get(side.hash or ""), permissions, root=root)


def _kind(mode: int | None) -> int:
    if is_folder_mode(mode):
        return stat.S_IFDIR
    return stat.S_IFLNK if is_link_mode(mode) else stat.S_IFREG


def _remove(folder: int, name: str, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        try:
            os.rmdir(name, dir_fd=folder)
        except OSError as err:
            raise FolderNotEmptyError(err.errno, f"{name} is not empty") from None
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=folder)  # a symlink goes, never what it points to
