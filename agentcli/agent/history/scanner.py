"""Compare the workspace with its baseline: stat everything, hash only what moved.

A scan walks the tree (:class:`TreeWalker`), keeps every path whose stat key matches its
baseline row, and reads only the rest — new files, files whose size, mtime, ctime,
inode or mode moved, and files hashed too soon after their last write to trust their
timestamps. A file this process may not read (mode ``000``) gets the hash
:data:`~agentcli.agent.history.disk.UNREADABLE`, and any move of its stat is a change.
Reading, hashing and compressing run on worker threads (``hashlib`` and ``zlib``
release the GIL); new contents come back packed for ``blobs``.

Example:
    >>> scanner = Scanner(root, exclude=[], max_file_bytes=20 << 20, known_blobs=set())
    >>> result = scanner.scan(baseline={})
    >>> len(result.changes)   # everything is new against an empty baseline
    42
"""

from __future__ import annotations

import itertools
import os
import stat
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from agentcli.agent.history.disk import UNREADABLE, lstat_inside, read_content, stat_matches, state_key
from agentcli.agent.workspace.treewalk import TreeWalker, Walk, pack_key, tracked_mode
from agentcli.session.snapshots import PathState
from agentcli.store.blobs import PackedBlob, pack_blob

FLUSH_BYTES = 32 << 20  # packed blobs held in memory before they are written
_WINDOW_BYTES = 64 << 20  # file bytes read per round of worker threads
_WINDOW_FILES = 512
_PARALLEL_MIN = 16  # below this many files, threads cost more than they save
_CREATED_MARGIN_NS = 50_000_000  # ctime ticks lag the clock by up to a jiffy

Change = tuple[PathState | None, PathState | None]  # (before, after); None = absent


@dataclass
class ScanResult:
    """What a scan found: real changes, the baseline rows to write, and blobs not yet written."""

    changes: list[Change] = field(default_factory=list)
    upserts: list[PathState] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    blobs: list[PackedBlob] = field(default_factory=list)
    hidden: dict[str, PathState] = field(default_factory=dict)  # watched, out of the baseline


class Scanner:
    """Scans one workspace against a baseline.

    Args:
        root: the workspace root (a real path).
        exclude: folders left out (the sessions folder).
        max_file_bytes: files above this are hashed but not stored (not restorable).
        known_blobs: hashes already stored; grows as the scanner packs new ones.
        flush: called with packed blobs whenever more than ``FLUSH_BYTES`` pile up.
        walker: the tree walker of ``root`` and ``exclude``, kept from scan to scan so it
            remembers folder listings (a new one by default).
    """

    def __init__(self, root: Path, *, exclude: Sequence[Path], max_file_bytes: int,
                 known_blobs: set[str], flush: Callable[[list[PackedBlob]], None] | None = None,
                 workers: int | None = None, walker: TreeWalker | None = None):
        self.root = root
        self.exclude = exclude
        self.walker = walker or TreeWalker(root, exclude)
        self.max_file_bytes = max_file_bytes
        self.known = known_blobs
        self.flush = flush
        self.workers = workers or min(4, os.cpu_count() or 1)

    def scan(self, baseline: dict[str, PathState], created_since_ns: int | None = None,
             keys: dict[str, bytes] | None = None, hidden: dict[str, PathState] | None = None) -> ScanResult:
        """Diff the disk against ``baseline``.

        ``keys`` (:func:`baseline_keys` of ``baseline``, which a caller may keep up to
        date between scans) lists the rows trusted without reading their file again; it
        must name no path the baseline does not hold.

        With ``created_since_ns`` (the clock when a command started), a path new to the
        baseline whose ctime is older than that existed before the command — it only
        stopped being ignored — and is adopted into the baseline, not reported as a change.

        A baseline path that the ignore rules now hide but that is still in the workspace
        leaves the baseline yet stays watched: it moves to ``hidden`` (given back in
        :attr:`ScanResult.hidden`, to pass to the next scan), and its changes are still
        reported. Else a command could add a file to ``.gitignore``, change it, and leave
        nothing for rollback to restore.
        """
        keys = baseline_keys(baseline) if keys is None else keys
        hidden = dict(hidden or {})
        walk = self.walker.scan(keys)
        result = ScanResult(hidden=hidden)
        to_read: list[tuple[str, os.stat_result]] = []
        missing = len(baseline) - walk.count + sum(1 for rel in walk.found if rel not in baseline)
        unseen = [*_deleted(baseline, walk, missing), *(rel for rel in hidden if rel not in walk.found)]
        moved, gone = self._watch(baseline, hidden, unseen, result)
        for rel, st in itertools.chain(walk.found.items(), moved.items()):
            mode = st.st_mode & 0o177777
            old = baseline.get(rel) or hidden.get(rel)
            if old is not None and mode == old.mode and mode & 0o170000 == 0o040000:
                if rel in walk.found and hidden.pop(rel, None) is not None:
                    result.upserts.append(old)  # a hidden folder seen again
                continue  # a folder as it was
            if not _storable(rel):
                continue
            if mode & 0o170000 != 0o040000:
                to_read.append((rel, st))
                continue
            new = PathState(rel, mode, 0, 0, 0, st.st_ino, None)
            self._keep(rel, new, rel in walk.found, result)
            if old is not None or not _existed_before(st, created_since_ns):
                result.changes.append((old, new))
        for rel, st, new in self._read_all(to_read, result):
            old = baseline.get(rel) or hidden.get(rel)
            if new is None:  # vanished while we looked: as good as deleted
                if old is not None:
                    hidden.pop(rel, None)
                    if rel in baseline:
                        result.deletes.append(rel)
                    result.changes.append((old, None))
                continue
            self._keep(rel, new, rel in walk.found, result)
            if old is None:
                if not _existed_before(st, created_since_ns):
                    result.changes.append((None, new))
            elif old.hash != new.hash or old.mode != new.mode or _moved_unreadable(old, new):
                result.changes.append((old, new))
        for rel in gone:
            result.changes.append((baseline.get(rel) or hidden.pop(rel), None))
            if rel in baseline:
                result.deletes.append(rel)
        result.changes.sort(key=lambda change: (change[1] or change[0]).path)  # type: ignore[union-attr]
        return result

    @staticmethod
    def _keep(rel: str, new: PathState, seen: bool, result: ScanResult) -> None:
        """A path seen by the walk goes (back) into the baseline; a hidden one stays watched."""
        if seen:
            result.hidden.pop(rel, None)
            result.upserts.append(new)
        else:
            result.hidden[rel] = new

    def _watch(self, baseline: dict[str, PathState], hidden: dict[str, PathState], unseen: Collection[str],
               result: ScanResult) -> tuple[dict[str, os.stat_result], list[str]]:
        """Split the paths the walk did not see into those still in the workspace (hidden
        by ignore rules: watched, and stat'ed when their stat moved) and those gone (also
        those below a symlinked folder, which are not in the workspace); one below a folder
        we may not search is a change to unreadable, and stays watched."""
        moved: dict[str, os.stat_result] = {}
        gone: list[str] = []
        for rel in unseen:
            old = baseline.get(rel) or hidden[rel]
            try:
                st = lstat_inside(self.root / rel, self.root)
            except PermissionError:  # below a folder we may not search (chmod 000): unknown
                self._unknown(rel, old, rel in baseline, hidden, result)
                continue
            if st is None or tracked_mode(st.st_mode) is None:
                gone.append(rel)
                continue
            if rel in baseline:
                result.deletes.append(rel)  # leaves the baseline rows, not the watch
                hidden[rel] = old
            if not stat_matches(old, st) and not stat.S_ISDIR(st.st_mode):
                moved[rel] = st
            elif stat.S_ISDIR(st.st_mode) and (st.st_mode & 0o177777) != old.mode:
                moved[rel] = st
        return moved, gone

    @staticmethod
    def _unknown(rel: str, old: PathState, in_baseline: bool, hidden: dict[str, PathState],
                 result: ScanResult) -> None:
        """A path we can no longer look at: watched as unreadable, and a change unless it was."""
        if in_baseline:
            result.deletes.append(rel)
        new = PathState(rel, 0, 0, 0, 0, 0, UNREADABLE, False, time.time_ns())
        hidden[rel] = new
        if old.hash != UNREADABLE:
            result.changes.append((old, new))

    def _read_all(self, items: list[tuple[str, os.stat_result]],
                  result: ScanResult) -> Iterator[tuple[str, os.stat_result, PathState | None]]:
        pending = 0
        pool = ThreadPoolExecutor(self.workers) if len(items) >= _PARALLEL_MIN else None
        try:
            for window in _windows(items):
                done = pool.map(self._read_one, window) if pool else map(self._read_one, window)
                for (rel, st), (new, blob) in zip(window, done):
                    if blob is not None and blob.hash not in self.known:
                        self.known.add(blob.hash)
                        result.blobs.append(blob)
                        pending += len(blob.data)
                    yield rel, st, new
                if self.flush is not None and pending > FLUSH_BYTES:
                    self.flush(result.blobs)
                    result.blobs, pending = [], 0
        finally:
            if pool is not None:
                pool.shutdown()

    def _read_one(self, item: tuple[str, os.stat_result]) -> tuple[PathState | None, PackedBlob | None]:
        rel, st = item
        try:
            digest, data = read_content(self.root / rel, st, self.max_file_bytes)
        except (FileNotFoundError, NotADirectoryError):
            return None, None
        except OSError:  # unreadable (permissions): its stat is all there is to compare
            return PathState(rel, tracked_mode(st.st_mode) or 0, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                             st.st_ino, UNREADABLE, False, time.time_ns()), None
        checked = time.time_ns()
        state = PathState(rel, tracked_mode(st.st_mode) or 0, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                          st.st_ino, digest, data is not None, checked)
        if data is None or digest in self.known:
            return state, None
        return state, pack_blob(data, digest)


def baseline_keys(baseline: dict[str, PathState]) -> dict[str, bytes]:
    """The :func:`trusted_key` of every baseline row that can be trusted without reading the file."""
    keys = {}
    for rel, state in baseline.items():  # trusted_key() inlined: a loaded baseline is large
        key = state_key(state)
        if key is not None and (packed := pack_key(key)) is not None:
            keys[rel] = packed
    return keys


def trusted_key(state: PathState) -> bytes | None:
    """The packed stat key a path must show for its baseline row to be trusted as it is
    (None when the row is racy, or a folder: then it is never trusted blindly)."""
    key = state_key(state)
    return None if key is None else pack_key(key)


def _deleted(baseline: dict[str, PathState], walk: Walk, missing: int) -> Collection[str]:
    """The ``missing`` baseline paths the walk did not see: the paths it saw go since its
    last scan when they account for all of them, else every path not seen."""
    if not missing:
        return ()
    gone = walk.gone.intersection(baseline)
    return gone if len(gone) == missing else baseline.keys() - walk.paths()


def _moved_unreadable(old: PathState, new: PathState) -> bool:
    """Whether an unreadable file's stat moved: all that shows its content may have changed."""
    return new.hash == UNREADABLE and (old.size, old.mtime_ns, old.ctime_ns, old.inode) != (
        new.size, new.mtime_ns, new.ctime_ns, new.inode)


def _storable(rel: str) -> bool:
    """False for a name that is not valid UTF-8 (SQLite text cannot hold it): not tracked."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _existed_before(st: os.stat_result, created_since_ns: int | None) -> bool:
    return created_since_ns is not None and st.st_ctime_ns < created_since_ns - _CREATED_MARGIN_NS


def _windows(items: list[tuple[str, os.stat_result]]) -> Iterator[list[tuple[str, os.stat_result]]]:
    window: list[tuple[str, os.stat_result]] = []
    size = 0
    for item in items:
        window.append(item)
        size += item[1].st_size
        if size >= _WINDOW_BYTES or len(window) >= _WINDOW_FILES:
            yield window
            window, size = [], 0
    if window:
        yield window
