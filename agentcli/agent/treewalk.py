"""The workspace the way git sees it: ``.gitignore`` rules, and a fast stat walk for change tracking.

:class:`GitIgnore` owns the ignore semantics of every walk in agentcli (the file tools'
and the tracker's): ``.git/info/exclude``, the root's ``.gitignore`` and nested ones, each
file parsed once per version. :func:`list_folder` applies them to one folder.
:class:`TreeWalker` stats the tree with it: one ``lstat`` per entry, ``.git`` folders and
excluded folders skipped, ignored folders pruned, symlinks recorded as symlinks and never
followed. Nothing is read or hashed here.

Example:
    >>> found = walk_tree(Path("/repo"), exclude=[Path("/repo/sessions")])
    >>> sorted(found)[:3]
    ['README.md', 'src', 'src/app.py']
"""

from __future__ import annotations

import os
import re
import stat
import struct
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import NamedTuple

import pathspec

GIT_DIR = ".git"
StatKey = tuple[int, int, int, int, int]  # st_mode (type and permissions), size, mtime_ns, ctime_ns, inode

_KIND, _DIR, _FILE, _LINK = 0o170000, stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK
_PACK = struct.Struct("=QQqqQ").pack  # st_mode, size, mtime_ns, ctime_ns, inode
SETTLE_NS = 2_000_000_000  # what changed more recently may change again within the same timestamp tick
_GROUP = re.compile(r"\(\?P<\w+>")
_ANY_FOLDERS = "^(?:.+/)?"  # how pathspec starts a pattern that matches at any depth
_ONE_LEVEL = re.compile(r"\(\?P<ps_d>/\)|\[\^/\]")  # the dir mark and "any but /": no folder crossed
_Check = Callable[[str], object]
# (prefix of the folder holding the .gitignore, its spec, quick checks by name and by path)
_Rule = tuple[str, pathspec.GitIgnoreSpec, _Check | None, _Check | None]
_RULE_CACHE: dict[tuple[str, str, int, int, int, int], _Rule | None] = {}


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


class GitIgnore:
    """The ignore rules in force in one folder, as git applies them.

    ``.git/info/exclude`` first, then the ``.gitignore`` of each folder from the root
    down: a deeper file overrides a shallower one, within one file the last match wins.
    Immutable; equal when built from the same versions of the same files.

    Example:
        >>> rules = GitIgnore.above("/repo", "src/app.log")   # exclude, /repo and /repo/src
        >>> rules.ignores("app.log", "src/app.log", is_dir=False)
        True
    """

    __slots__ = ("_only", "rules")

    def __init__(self, rules: tuple[_Rule, ...] = ()):
        self.rules = rules
        # The usual case, one .gitignore of name patterns: one regex call decides most paths.
        self._only = rules[0][2] if len(rules) == 1 and rules[0][3] is None else None

    @classmethod
    def at_root(cls, root: str) -> GitIgnore:
        """The rules in force at ``root`` before its own ``.gitignore``: ``.git/info/exclude``."""
        rule = _cached_rule(os.path.join(root, GIT_DIR, "info", "exclude"), "")
        return cls(() if rule is None else (rule,))

    @classmethod
    def above(cls, root: str, rel: str) -> GitIgnore:
        """The rules that decide about ``rel``: those of every folder from ``root`` to its
        parent (for ``""``, the root itself: :meth:`at_root`)."""
        rules = cls.at_root(root)
        if not rel:
            return rules
        rules = rules.entering(root, "")
        folder, prefix = root, ""
        for part in rel.split("/")[:-1]:
            folder, prefix = os.path.join(folder, part), prefix + part + "/"
            rules = rules.entering(folder, prefix)
        return rules

    def entering(self, folder: str, prefix: str) -> GitIgnore:
        """The rules in force inside ``folder`` (``prefix``: its relative path and ``/``)."""
        rule = _cached_rule(os.path.join(folder, ".gitignore"), prefix)
        return self if rule is None else GitIgnore((*self.rules, rule))

    def ignores(self, name: str, rel: str, is_dir: bool) -> bool:
        """Whether git ignores ``rel``, a path in this folder (last component ``name``).

        The folders above it are taken as not ignored, as in a walk that prunes ignored
        folders; :func:`path_ignored` decides about any path.
        """
        rules = self.rules
        if not rules:
            return False
        mark = "/" if is_dir else ""
        if self._only is not None:
            if not self._only(name + mark):
                return False
        elif not any((by_name is not None and by_name(name + mark))
                     or (by_path is not None and by_path(rel[len(base) :] + mark))
                     for base, _spec, by_name, by_path in rules):
            return False
        for base, spec, _by_name, _by_path in reversed(rules):
            decision = spec.check_file(rel[len(base) :] + mark).include
            if decision is not None:
                return decision
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GitIgnore) and self.rules == other.rules

    __hash__ = None  # type: ignore[assignment]


def path_ignored(root: str, rel: str, is_dir: bool) -> bool:
    """Whether git ignores ``rel`` (relative to ``root``): it, or a folder above it."""
    rules = GitIgnore.at_root(root).entering(root, "")
    folder, prefix = root, ""
    *parents, name = rel.split("/")
    for part in parents:
        if rules.ignores(part, prefix + part, is_dir=True):
            return True
        folder, prefix = os.path.join(folder, part), prefix + part + "/"
        rules = rules.entering(folder, prefix)
    return rules.ignores(name, rel, is_dir)


class Folder(NamedTuple):
    """What git sees in one folder: the rules in force inside it and the entries it keeps."""

    ignore: GitIgnore
    has_gitignore: bool
    entries: list[tuple[os.DirEntry[str], str, bool]]  # (entry, relative path, is a folder)


def list_folder(path: str, prefix: str, inherited: GitIgnore,
                excluded: Collection[str] = ()) -> Folder | None:
    """The entries of the folder at ``path`` git would not ignore, in no particular order.

    ``prefix`` is the folder's relative path and ``/`` (``""`` for the root), ``inherited``
    the rules in force in its parent; ``.git`` and the real paths in ``excluded`` are left
    out. A symlink is never a folder here. None when the folder cannot be read (git skips it).
    """
    try:
        with os.scandir(path) as listing:
            entries = list(listing)
    except OSError:
        return None
    has_gitignore = any(entry.name == ".gitignore" for entry in entries)
    ignore = inherited.entering(path, prefix) if has_gitignore else inherited
    ignores = ignore.ignores
    kept = []
    for entry in entries:
        name = entry.name
        if len(name) == 4 and name.casefold() == GIT_DIR:
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:  # vanished while we looked
            continue
        rel = prefix + name
        if ignores(name, rel, is_dir) or (excluded and entry.path in excluded):
            continue
        kept.append((entry, rel, is_dir))
    return Folder(ignore, has_gitignore, kept)


def _cached_rule(path: str, prefix: str) -> _Rule | None:
    """The rules of an ignore file, parsed once per version of the file (scans repeat)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if time.time_ns() - st.st_ctime_ns < SETTLE_NS:  # may change again within its timestamp tick
        return _load_rule(path, prefix)
    key = (path, prefix, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in _RULE_CACHE:
        if len(_RULE_CACHE) > 4096:
            _RULE_CACHE.clear()
        _RULE_CACHE[key] = _load_rule(path, prefix)
    return _RULE_CACHE[key]


def _load_rule(path: str, prefix: str) -> _Rule | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:  # a folder, unreadable: no rules
        return None
    try:
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError:  # one bad line must not void the file: git skips it too
        spec = pathspec.GitIgnoreSpec.from_lines(line for line in lines if _valid(line))
    if not spec.patterns:
        return None
    by_name, by_path = _quick_checks(spec)
    return prefix, spec, by_name, by_path


def _quick_checks(spec: pathspec.GitIgnoreSpec) -> tuple[_Check | None, _Check | None]:
    """Regexes that match whenever some pattern could, so most paths skip ``check_file``.

    Without negations, a pattern with no inner ``/`` can only match a path by its last
    component, so it is tried on the short name; the others on the path. With a
    negation (``!keep.log``) every pattern is tried on the path. When the patterns are
    not the regexes expected, every path goes to ``check_file``.
    """
    always = re.compile("").match
    negated = any(getattr(p, "include", None) is False for p in spec.patterns)
    names, paths = [], []
    for pattern in spec.patterns:
        if getattr(pattern, "include", None) is None:
            continue
        regex = getattr(pattern, "regex", None)
        if regex is None:
            return None, always
        text = regex.pattern
        rest = text[len(_ANY_FOLDERS) :]
        if not negated and text.startswith(_ANY_FOLDERS) and "/" not in _ONE_LEVEL.sub("", rest):
            names.append(_GROUP.sub("(?:", "^" + rest))
        else:
            paths.append(_GROUP.sub("(?:", text))
    try:
        by_name = re.compile("|".join(f"(?:{p})" for p in names)).search if names else None
        by_path = re.compile("|".join(f"(?:{p})" for p in paths)).search if paths else None
    except re.error:
        return None, always
    return by_name, by_path


def _valid(line: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except ValueError:
        return False
    return True


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
    folders: list[tuple[str, str, str]]  # (path, relative path, prefix) of the subfolders walked
    files: list[tuple[bytes, str]]  # (encoded path, relative path) of the files and symlinks


class TreeWalker:
    """Stats one workspace, scan after scan, as :func:`walk_tree` describes.

    A folder whose own ``lstat`` and ignore rules are unchanged since its last listing
    still holds the same names (adding, removing or renaming an entry moves its mtime),
    so only its entries are stat'ed again: no ``scandir``, no rule matching. Content
    changes do not touch a folder's mtime, which is why every entry is still stat'ed:
    the folders first, then every file in one flat loop.

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
        self._listings: dict[str, _Listing] = {}
        self._listed = 0

    def scan(self, trusted: Mapping[str, bytes]) -> Walk:
        """Stat the tree; a file or symlink whose :func:`pack_key` equals its ``trusted``
        entry is only counted, every other path is found."""
        self._listed = 0
        before = self._listings
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
            stack = [(self.top, "", os.lstat(self.top), GitIgnore.at_root(self.top))]
        except OSError:
            return files, stale
        known_listing, lstat, push = self._listings.get, os.lstat, stack.append
        while stack:
            path, prefix, st, inherited = stack.pop()
            listing = known_listing(prefix)
            if (listing is None or not listing.settled
                    or listing.key != (st.st_mode, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
                    or not _same_rules(listing, path, prefix, inherited)):
                listing = self._list(path, prefix, st, inherited)
                if listing is None:  # unreadable: skipped, as git skips it
                    continue
            listings[prefix] = listing
            files.extend(listing.files)
            ignore = listing.ignore
            for sub_path, rel, sub_prefix in listing.folders:
                try:
                    sub_st = lstat(sub_path)
                except OSError:  # vanished while we looked
                    continue
                if sub_st.st_mode & _KIND != _DIR:
                    stale.append(prefix)
                    continue
                found[rel] = sub_st
                push((sub_path, sub_prefix, sub_st, ignore))
        self._listings = listings  # folders gone since are forgotten
        return files, stale

    def _list(self, path: str, prefix: str, st: os.stat_result, inherited: GitIgnore) -> _Listing | None:
        listed_at = time.time_ns()
        self._listed += 1
        folder = list_folder(path, prefix, inherited, self.excluded)
        if folder is None:
            return None
        settled = max(st.st_mtime_ns, st.st_ctime_ns) + self.settle_ns < listed_at
        folders = [(entry.path, rel, rel + "/") for entry, rel, is_dir in folder.entries if is_dir]
        files = [(os.fsencode(entry.path), rel) for entry, rel, is_dir in folder.entries if not is_dir]
        key = (st.st_mode, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)
        return _Listing(key, settled, folder.ignore, folder.has_gitignore, folders, files)


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
    return {rel for _path, rel, _prefix in listing.folders} | {rel for _path, rel in listing.files}


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
