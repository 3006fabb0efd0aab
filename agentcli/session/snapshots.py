"""The workspace baseline (``file_states``), bulk blob writes and checkpoint records.

A scan of the workspace compares what it finds on disk with the baseline: the last
known state of every file, folder and symlink it tracks. Only paths whose stat key
(mode, size, mtime, ctime, inode) moved are hashed again, and only new contents are
added to ``blobs``. Modes follow ``file_changes``: a regular file's mode is its
permission bits (``0o644``); a symlink's and a folder's keep their type bits
(``stat.S_IFLNK | 0o777``, ``stat.S_IFDIR | 0o755``). A symlink's content is its target.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import astuple, dataclass
from typing import NamedTuple

from agentcli.store.db import Db

_INLINE_BYTES = 64  # below this compression never pays
_PROBE_BYTES = 16384  # a sample tells incompressible (binary, compressed) content early
_CHUNK = 500  # SQLite's default limit of host parameters is 999


class PathState(NamedTuple):
    """What the baseline knows about one path: its stat key and its content hash.

    A named tuple: a baseline holds one per path of the workspace, and loading ten
    thousand must stay cheap.
    """

    path: str
    mode: int
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    hash: str | None  # None for a folder
    restorable: bool = True  # content stored in blobs (False: over the size limit)
    checked_ns: int = 0  # wall clock when the hash was last computed from the disk


@dataclass(frozen=True)
class PackedBlob:
    """A blob ready for the ``blobs`` table."""

    hash: str
    size: int
    compression: str
    data: bytes


def pack_blob(data: bytes, digest: str) -> PackedBlob:
    """Compress ``data`` (zlib level 1, git's choice for loose objects) when that saves space.

    Safe to call from worker threads: zlib releases the GIL. Content that a 16 KB sample
    shows to be incompressible is stored raw without compressing the rest.

    Example:
        >>> pack_blob(b"a" * 1000, content_hash(b"a" * 1000)).compression
        'zlib'
    """
    if len(data) <= _INLINE_BYTES:
        return PackedBlob(digest, len(data), "none", data)
    if len(data) > 4 * _PROBE_BYTES:
        probe = data[:_PROBE_BYTES]
        if len(zlib.compress(probe, 1)) > 0.95 * len(probe):
            return PackedBlob(digest, len(data), "none", data)
    packed = zlib.compress(data, 1)
    if len(packed) < len(data):
        return PackedBlob(digest, len(data), "zlib", packed)
    return PackedBlob(digest, len(data), "none", data)


class Snapshots:
    """The ``file_states`` table, bulk writes to ``blobs`` and the checkpoint rows.

    Example:
        >>> baseline = session.snapshots.states()
        >>> session.snapshots.save_states([state], deletes=["old.txt"])
    """

    def __init__(self, db: Db):
        self._db = db

    def states(self) -> dict[str, PathState]:
        """The whole baseline, by path."""
        with self._db.cursor(
            "SELECT path, mode, size, mtime_ns, ctime_ns, inode, hash, restorable, checked_ns "
            "FROM file_states"
        ) as cursor:
            return {row[0]: PathState._make(row) for row in cursor}

    def states_for(self, paths: Iterable[str]) -> dict[str, PathState]:
        """The baseline rows of some paths (absent paths are left out)."""
        found: dict[str, PathState] = {}
        for chunk in _chunks(list(paths)):
            with self._db.cursor(
                "SELECT path, mode, size, mtime_ns, ctime_ns, inode, hash, restorable, checked_ns "
                f"FROM file_states WHERE path IN ({','.join('?' * len(chunk))})",
                chunk,
            ) as cursor:
                found.update({row[0]: PathState._make(row) for row in cursor})
        return found

    def save_states(self, upserts: Iterable[PathState], deletes: Iterable[str] = ()) -> None:
        """Replace the baseline rows of ``upserts`` and drop those of ``deletes``."""
        self._db.executemany(
            "INSERT OR REPLACE INTO file_states (path, mode, size, mtime_ns, ctime_ns, inode, hash, "
            "restorable, checked_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (tuple(state) for state in upserts),
        )
        self._db.executemany("DELETE FROM file_states WHERE path = ?", ((p,) for p in deletes))

    def put_blobs(self, blobs: Iterable[PackedBlob]) -> None:
        """Store packed blobs; a hash already stored is kept as it is."""
        self._db.executemany(
            "INSERT OR IGNORE INTO blobs (hash, size, compression, data) VALUES (?, ?, ?, ?)",
            (astuple(blob) for blob in blobs),
        )

    def blob_hashes(self) -> set[str]:
        """The hash of every stored blob."""
        with self._db.cursor("SELECT hash FROM blobs") as cursor:
            return {row[0] for row in cursor}

    def missing_blobs(self, hashes: Iterable[str]) -> set[str]:
        """Those of ``hashes`` that have no stored blob."""
        wanted = list(set(hashes))
        present: set[str] = set()
        for chunk in _chunks(wanted):
            with self._db.cursor(
                f"SELECT hash FROM blobs WHERE hash IN ({','.join('?' * len(chunk))})", chunk
            ) as cursor:
                present.update(row[0] for row in cursor)
        return set(wanted) - present


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]
