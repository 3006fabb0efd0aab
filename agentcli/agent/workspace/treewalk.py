"""The workspace the way git sees it, stat'ed fast for change tracking.

:class:`TreeWalker` stats the tree with the ignore rules of
:class:`~agentcli.agent.workspace.gitignore.GitIgnore`: one ``lstat`` per entry, ``.git`` folders and
excluded folders skipped, ignored folders pruned, symlinks recorded as symlinks and never
followed. Nothing is read or hashed here.

Example:
    >>> found = walk_tree(Path("/repo"), exclude=[Path("/repo/sessions")])
    >>> sorted(found)[:3]
    ['README.md', 'src', 'src/app.py']
"""

from __future__ import annotations

import os
import stat
import struct
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import NamedTuple

from agentcli.agent.workspace.gitignore import SETTLE_NS, GitIgnore, list_folder
from agentcli.agent.workspace.gitindex import TrackedIndex

StatKey = tuple[int, int, int, int, int]  # st_mode (type and permissions), size, mtime_ns, ctime_ns, inode

_KIND, _DIR, _FILE, _LINK = 0o170000, stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK
_PACK = struct.Struct("=QQqqQ").pack  # st_mode, size, mtime_ns, ctime_ns, inode


def tracked_mode(st_mode: int) -> int | None:
    """The mode recorded for a path, or None for what is not tracked (devices, sockets).

    A regular file's mode is its permission bits; a symlink's and a folder's keep
    their type bits, which is how the logs tell them apart.
    """
    kind = stat.S_IFMT(st_mode)
    if kind == stat.S_IFREG:
        return stat.S_IMODE(st_mode)
    if kind in (stat.S_IFLNK, stat.S_IFDIR):
        return kind | stat.S_IMODE(st_mode)
    return None


def is_folder_mode(mode: int | None) -> bool:
    """True for the recorded mode of a folder."""
    return mode is not None and stat.S_ISDIR(mode)


def is_link_mode(mode: int | None) -> bool:
    """True for the recorded mode of a symlink."""
    return mode is not None and stat.S_ISLNK(mode)


class Walk(NamedTuple):
    """One scan of the tree: what needs a closer look, and how many paths were seen.

    ``found`` maps every folder, and every file or symlink whose stat did not match its
    trusted key, to its ``lstat``; ``count`` counts every path seen, trusted ones too;
    ``listed`` counts the folders read afresh (the others' listings were still current).
    ``gone`` names paths seen by the walker's last scan and not by this one.
    """

    found: dict[str, os.stat_result]
    count: int
    listed: int
    gone: set[str]
    files: list[tuple[bytes, str]]  # (encoded path, relative path) of the files and symlinks listed
    vanished: list[str]  # those not seen as listed: gone, or another kind of entry now

    def paths(self) -> set[str]:
        """Every path seen (built on demand: a scan needs it only when something went away)."""
        seen = {rel for _path, rel in self.files}
        seen.difference_update(self.vanished)
        seen.update(self.found)
        return seen


class _Listing(NamedTuple):
    key: tuple[int, int, int, int, int]  # the folder's mode, mtime, ctime, inode and device
    settled: bool  # last changed well before it was listed: the key proves the listing current
    ignore: GitIgnore  # the rules in force inside the folder when it was listed
    has_gitignore: bool
    hidden: bool  # listed as an ignored folder entered for the paths git tracks in it
    folders: list[tuple[str, str, str, bool]]  # (path, relative path, prefix, hidden) of the subfolders
    files: list[tuple[bytes, str]]  # (encoded path, relative path) of the files and symlinks


class TreeWalker:
    """Stats one workspace, scan after scan, as :func:`walk_tree` describes.

    A folder whose own ``lstat`` and ignore rules are unchanged since its last listing
    still holds the same names (adding, removing or renaming an entry moves its mtime),
    so only its entries are stat'ed again: no ``scandir``, no rule matching. Content
    changes do not touch a folder's mtime, which is why every entry is still stat'ed:
    the folders first, then every file in one flat loop.

    A path git tracks is kept though the rules ignore it (:class:`TrackedIndex`, git's
    rule); a change of an index file (``git add``) lists again the folders it concerns.

    Args:
        root: the workspace root (a real path).
        exclude: absolute paths left out entirely (the sessions folder).
        settle_ns: how long before its listing a folder must have last changed for the
            listing to be reused (a change within the same timestamp tick would not show).
    """

    def __init__(self, root: Path, exclude: Collection[Path] = (), settle_ns: int = SETTLE_NS):
        self.top = os.fspath(root)
        self.excluded = frozenset(os.path.realpath(p) for p in exclude)
        self.settle_ns = settle_ns
        self.tracked: TrackedIndex | None = None  # made at the first scan: nothing read at start
        self._listings: dict[str, _Listing] = {}
        self._listed = 0

    def scan(self, trusted: Mapping[str, bytes]) -> Walk:
        """Stat the tree; a file or symlink whose :func:`pack_key` equals its ``trusted``
        entry is only counted, every other path is found."""
        self._listed = 0
        if self.tracked is None:
            self.tracked = TrackedIndex(self.top)
        self.tracked.refresh()
        before = self._listings
        self._listings = dict(before)  # the walk may drop listings; ``before`` stays whole
        self._forget(self.tracked.drain())
        for _attempt in range(3):
            found: dict[str, os.stat_result] = {}
            files, stale = self._walk_folders(found)
            trusted_count, vanished, moved = _stat_files(files, trusted, found)
            stale.extend(rel.rpartition("/")[0] + "/" if "/" in rel else "" for rel in moved)
            if not stale:
                break
            # An entry changed kind under a listing we trusted (as we looked): list again.
            for prefix in stale:
                self._listings.pop(prefix, None)
        gone = {*vanished, *moved}
        for prefix, listing in before.items():
            if self._listings.get(prefix) is not listing:
                gone.update(_names(listing).difference(_names(self._listings.get(prefix))))
        return Walk(found, trusted_count + len(found), self._listed, gone, files, vanished + moved)

    def _walk_folders(self, found: dict[str, os.stat_result]) -> tuple[list[tuple[bytes, str]], list[str]]:
        """Stat every folder into ``found``; return the files and symlinks to stat, and
        the folders whose listing proved stale."""
        listings: dict[str, _Listing] = {}
        files: list[tuple[bytes, str]] = []
        stale: list[str] = []
        try:
            stack = [(self.top, "", os.lstat(self.top), GitIgnore.at_root(self.top), False)]
        except OSError:
            return files, stale
        known_listing, lstat, push = self._listings.get, os.lstat, stack.append
        while stack:
            path, prefix, st, inherited, hidden = stack.pop()
            listing = known_listing(prefix)
            if (listing is None or not listing.settled or listing.hidden != hidden
                    or listing.key != (st.st_mode, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
                    or not _same_rules(listing, path, prefix, inherited)):
                listing = self._list(path, prefix, st, inherited, hidden)
                if listing is None:  # unreadable: skipped, as git skips it
                    continue
            listings[prefix] = listing
            files.extend(listing.files)
            ignore = listing.ignore
            for sub_path, rel, sub_prefix, sub_hidden in listing.folders:
                try:
                    sub_st = lstat(sub_path)
                except OSError:  # vanished while we looked
                    continue
                if sub_st.st_mode & _KIND != _DIR:
                    stale.append(prefix)
                    continue
                found[rel] = sub_st
                push((sub_path, sub_prefix, sub_st, ignore, sub_hidden))
        self._listings = listings  # folders gone since are forgotten
        return files, stale

    def _list(self, path: str, prefix: str, st: os.stat_result, inherited: GitIgnore,
              hidden: bool) -> _Listing | None:
        listed_at = time.time_ns()
        self._listed += 1
        tracked = self.tracked
        folder = list_folder(path, prefix, inherited, self.excluded, tracked, hidden)
        if tracked is not None:
            self._forget(tracked.drain())  # a repository found (or gone) in this folder
        if folder is None:
            return None
        settled = max(st.st_mtime_ns, st.st_ctime_ns) + self.settle_ns < listed_at
        folders = [(entry.path, rel, rel + "/", hidden or rel in folder.hidden)
                   for entry, rel, is_dir in folder.entries if is_dir]
        files = [(os.fsencode(entry.path), rel) for entry, rel, is_dir in folder.entries if not is_dir]
        key = (st.st_mode, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
        return _Listing(key, settled, folder.ignore, folder.has_gitignore, hidden, folders, files)

    def _forget(self, moved: tuple[set[str], set[str]]) -> None:
        """Drop the listings a change of tracked paths makes stale (:meth:`TrackedIndex.drain`):
        each folder named and those above it, and for a tree, every folder below it too."""
        folders, trees = moved
        if not folders and not trees:
            return
        listings = self._listings
        if trees:
            for prefix in [p for p in listings if any(p.startswith(tree) for tree in trees)]:
                del listings[prefix]
        for folder in folders | trees:
            listings.pop("", None)
            at = folder.find("/")
            while at != -1:
                listings.pop(folder[: at + 1], None)
                at = folder.find("/", at + 1)


def pack_key(key: StatKey) -> bytes | None:
    """A stat key (``st_mode``, size, mtime, ctime, inode) packed as :meth:`TreeWalker.scan`
    compares it: one object, not five (None when a field does not fit in 64 bits)."""
    try:
        return _PACK(*key)
    except struct.error:
        return None


def _stat_files(files: list[tuple[bytes, str]], trusted: Mapping[str, bytes],
                found: dict[str, os.stat_result]) -> tuple[int, list[str], list[str]]:
    """Stat files and symlinks; put those not as ``trusted`` in ``found``.

    Returns how many were trusted, those that vanished, and those now folders.
    """
    # The hot loop, once per file of the workspace: names bound locally, and the stat
    # key packed, for a packed key is compared without touching five objects.
    lstat, trusted_key, pack = os.lstat, trusted.get, _PACK
    kind_bits, file_kind, link_kind = _KIND, _FILE, _LINK
    vanished: list[str] = []
    moved: list[str] = []
    folders = len(found)
    for path, rel in files:
        try:
            st = lstat(path)
        except OSError:  # vanished while we looked
            vanished.append(rel)
            continue
        mode = st.st_mode
        try:
            if trusted_key(rel) == pack(mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino):
                continue
        except struct.error:  # a field out of range: never trusted
            pass
        if mode & kind_bits == file_kind or mode & kind_bits == link_kind:
            found[rel] = st
        elif stat.S_ISDIR(mode):
            moved.append(rel)
        else:
            vanished.append(rel)  # a socket, a pipe or a device: not tracked
    return len(files) - (len(found) - folders) - len(vanished) - len(moved), vanished, moved


def _names(listing: _Listing | None) -> set[str]:
    """The relative paths a listing holds."""
    if listing is None:
        return set()
    return {folder[1] for folder in listing.folders} | {rel for _path, rel in listing.files}


def _same_rules(known: _Listing, path: str, prefix: str, inherited: GitIgnore) -> bool:
    """Whether the rules in force in a folder are those its listing was made with."""
    ignore = inherited.entering(path, prefix) if known.has_gitignore else inherited
    return ignore is known.ignore or ignore == known.ignore


def walk_tree(root: Path, exclude: Collection[Path] = ()) -> dict[str, os.stat_result]:
    """The ``lstat`` of every file, symlink and folder under ``root`` git would not ignore.

    Keys are ``/``-separated paths relative to ``root`` (which should be a real path).
    ``exclude`` holds absolute paths left out entirely (the sessions folder).
    Unreadable folders are skipped, as git skips them.
    """
    return TreeWalker(root, exclude).scan({}).found
