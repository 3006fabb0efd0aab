"""The workspace baseline (``file_states``), bulk blob writes and checkpoint records.

A scan of the workspace compares what it finds on disk with the baseline: the last
known state of every file, folder and symlink it tracks. Only paths whose stat key
(mode, size, mtime, ctime, inode) moved are hashed again, and only new contents are
added to ``blobs``. Modes follow ``file_changes``: a regular file's mode is its
permission bits (``0o644``); a symlink's and a folder's keep their type bits
(``stat.S_IFLNK | 0o777``, ``stat.S_IFDIR | 0o755``). A symlink's content is its target.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple
from typing import NamedTuple

from agentcli.store.blobs import PackedBlob
from agentcli.store.db import Db

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
