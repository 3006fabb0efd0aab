"""One path's state on disk, read cheaply and put back exactly: the tracker's and the
rollback's shared ground.

A :class:`Side` is what a ``file_changes`` row says one side of a change looked like:
absent (``mode`` None), a folder, a symlink (content: its target) or a regular file
(content hash and permission bits). :func:`disk_side` reads it from the disk, trusting
a baseline row whose stat key still matches; :func:`make_disk_show` writes it back.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from agentcli.agent.workspace.gitignore import GIT_DIR
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

    Raises:
        UnsafePathError: absolute, ``..``, inside ``.git``, or below a symlink leading out.
    """
    parts = PurePosixPath(rel).parts
    if not rel or rel.startswith("/") or any(p in ("..", ".", "") for p in parts) or any(
        p.casefold() == GIT_DIR for p in parts
    ):
        raise UnsafePathError(f"the session logs an unsafe path {rel!r}; it was left alone")
    path = root.joinpath(*parts)
    parent = os.path.realpath(path.parent)
    if parent != str(root) and not parent.startswith(str(root) + os.sep):
        raise UnsafePathError(f"{rel!r} lies below a symlink that leads out of the workspace; left alone")
    return path


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


def read_content(path: Path, st: os.stat_result, max_bytes: int) -> tuple[str, bytes | None]:
    """A file's or symlink's hash, and its bytes unless over ``max_bytes`` (then None)."""
    if stat.S_ISLNK(st.st_mode):
        data = os.fsencode(os.readlink(path))
        return hashlib.sha256(data).hexdigest(), data
    if st.st_size <= max_bytes:
        with open(path, "rb") as handle:
            data = handle.read()
        if len(data) <= max_bytes:
            return hashlib.sha256(data).hexdigest(), data
        return hashlib.sha256(data).hexdigest(), None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest(), None


def disk_side(path: Path, known: PathState | None, max_bytes: int) -> Side:
    """What is at ``path`` now; a matching baseline row spares reading the file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return Side()
    mode = tracked_mode(st.st_mode)
    if mode is None:  # a socket, a fifo, a device: matches no logged state
        return Side(st.st_mode & 0o177777, "not a file or folder")
    if is_folder_mode(mode):
        return Side(mode)
    if known is not None and known.hash is not None and stat_matches(known, st):
        return Side(mode, known.hash, st.st_size)
    digest, _data = read_content(path, st, max_bytes)
    return Side(mode, digest, st.st_size)


def state_of(rel: str, path: Path, side: Side, restorable: bool = True) -> PathState | None:
    """The baseline row for ``path`` now that it shows ``side`` (None when absent)."""
    if side.absent:
        return None
    st = os.lstat(path)
    if is_folder_mode(side.mode):
        return PathState(rel, tracked_mode(st.st_mode) or 0, 0, 0, 0, st.st_ino, None, True, 0)
    return PathState(rel, tracked_mode(st.st_mode) or 0, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                     st.st_ino, side.hash, restorable, time.time_ns())


def make_disk_show(path: Path, side: Side, blobs: BlobStore, current: Side | None = None) -> None:
    """Make ``path`` show ``side`` exactly: bytes, symlink target, folder, mode or absence.

    ``current`` (what :func:`disk_side` read) lets a mode-only change skip the write.

    Raises:
        FolderNotEmptyError: a folder to remove (or to replace) still holds other files.
        KeyError: the content's blob is not stored.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None and (side.absent or stat.S_IFMT(st.st_mode) != _kind(side.mode)):
        _remove(path, st)
        st = None
    if side.absent:
        return
    permissions = stat.S_IMODE(side.mode or 0)
    if is_folder_mode(side.mode):
        if st is None:
            path.mkdir(parents=True)
        os.chmod(path, permissions)
    elif is_link_mode(side.mode):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _temporary_name(path)
        os.symlink(os.fsdecode(blobs.get(side.hash or "")), tmp)
        os.replace(tmp, path)
    elif st is not None and current is not None and current.hash == side.hash:
        os.chmod(path, permissions)
    else:
        replace_file(path, blobs.get(side.hash or ""), permissions)


def replace_file(path: Path, data: bytes, mode: int) -> None:
    """Put ``data`` at ``path`` with ``mode`` in one rename (a reader sees old or new, never half).

    No fsync, as ``git checkout`` does none: a rollback's log commits after the writes,
    and a power cut that loses them shows up as a conflict the next rollback reports.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            os.fchmod(out.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.agentcli-tmp")


def _kind(mode: int | None) -> int:
    if is_folder_mode(mode):
        return stat.S_IFDIR
    return stat.S_IFLNK if is_link_mode(mode) else stat.S_IFREG


def _remove(path: Path, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        try:
            path.rmdir()
        except OSError as err:
            raise FolderNotEmptyError(err.errno, f"{path.name} is not empty") from None
    else:
        path.unlink(missing_ok=True)
