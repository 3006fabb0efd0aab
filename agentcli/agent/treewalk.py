"""A fast stat walk of the workspace, the way git sees it, for change tracking.

One ``lstat`` per entry (``os.scandir`` caches it), ``.git`` folders and excluded
folders skipped, ``.gitignore`` rules applied (the root's, nested ones and
``.git/info/exclude``) with ``pathspec``, ignored folders pruned, symlinks recorded
as symlinks and never followed. Nothing is read or hashed here.

Example:
    >>> found = walk_tree(Path("/repo"), exclude=[Path("/repo/sessions")])
    >>> sorted(found)[:3]
    ['README.md', 'src', 'src/app.py']
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

import pathspec

GIT_DIR = ".git"
_GROUP = re.compile(r"\(\?P<\w+>")

_KIND, _DIR, _FILE, _LINK = 0o170000, stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK
_ANY_FOLDERS = "^(?:.+/)?"  # how pathspec starts a pattern that matches at any depth
_ONE_LEVEL = re.compile(r"\(\?P<ps_d>/\)|\[\^/\]")  # the dir mark and "any but /": no folder crossed
_Check = Callable[[str], object]
StatKey = tuple[int, int, int, int, int]  # st_mode (type and permissions), size, mtime_ns, ctime_ns, inode
# (prefix of the folder holding the .gitignore, its spec, quick checks by name and by path)
_Rule = tuple[str, pathspec.GitIgnoreSpec, _Check | None, _Check | None]
_FRESH_NS = 2_000_000_000
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


def walk_tree(root: Path, exclude: Collection[Path] = ()) -> dict[str, os.stat_result]:
    """The ``lstat`` of every file, symlink and folder under ``root`` git would not ignore.

    Keys are ``/``-separated paths relative to ``root`` (which should be a real path).
    ``exclude`` holds absolute paths left out entirely (the sessions folder).
    Unreadable folders are skipped, as git skips them.
    """
    return scan_tree(root, exclude, {})[0]


def scan_tree(root: Path, exclude: Collection[Path],
              trusted: Mapping[str, StatKey]) -> tuple[dict[str, os.stat_result], set[str]]:
    """:func:`walk_tree` for a scan: files whose stat key (``st_mode``, size, mtime,
    ctime, inode) equals their ``trusted`` entry are only named in the second result;
    the first holds every other file, symlink and folder with its ``lstat``.
    """
    top = os.fspath(root)
    excluded = {os.path.realpath(p) for p in exclude}
    excluded_names = {os.path.basename(p) for p in excluded}
    rules: list[_Rule] = []
    info_exclude = _load_rule(os.path.join(top, GIT_DIR, "info", "exclude"), "")
    if info_exclude is not None:
        rules.append(info_exclude)
    found: dict[str, os.stat_result] = {}
    same: set[str] = set()
    stack: list[tuple[str, str, list[_Rule]]] = [(top, "", rules)]
    # The hot loop runs once per path of the workspace: names bound locally.
    kind_bits, folder_kind, file_kind, link_kind = _KIND, _DIR, _FILE, _LINK
    trusted_key, keep = trusted.get, same.add
    while stack:
        folder, prefix, rules = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            if entry.name == ".gitignore":
                own = _cached_rule(entry, prefix)
                if own is not None:
                    rules = [*rules, own]
                break
        # The usual case, one .gitignore of name patterns: one regex call per entry.
        only = rules[0][2] if len(rules) == 1 and rules[0][3] is None else None
        for entry in entries:
            name = entry.name
            if len(name) == 4 and name.casefold() == GIT_DIR:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:  # vanished while we looked
                continue
            kind = st.st_mode & kind_bits
            rel = prefix + name
            is_dir = kind == folder_kind
            if only is not None:
                if only(name + "/" if is_dir else name) and _ignored(rules, rel, is_dir):
                    continue
            elif rules and _may_be_ignored(rules, name, rel, is_dir) and _ignored(rules, rel, is_dir):
                continue
            if name in excluded_names and entry.path in excluded:
                continue
            if is_dir:
                found[rel] = st
                stack.append((entry.path, rel + "/", rules))
            elif kind == file_kind or kind == link_kind:
                if trusted_key(rel) == (st.st_mode & 0o177777, st.st_size, st.st_mtime_ns, st.st_ctime_ns,
                                        st.st_ino):
                    keep(rel)
                else:
                    found[rel] = st
    return found, same


def _may_be_ignored(rules: list[_Rule], name: str, rel: str, is_dir: bool) -> bool:
    mark = "/" if is_dir else ""
    for base, _spec, by_name, by_path in rules:
        if by_name is not None and by_name(name + mark):
            return True
        if by_path is not None and by_path(rel[len(base) :] + mark):
            return True
    return False


def _ignored(rules: list[_Rule], rel: str, is_dir: bool) -> bool:
    # A deeper .gitignore overrides a shallower one; within one file the last match wins.
    for base, spec, _by_name, _by_path in reversed(rules):
        decision = spec.check_file(rel[len(base) :] + ("/" if is_dir else "")).include
        if decision is not None:
            return decision
    return False


def _cached_rule(entry: os.DirEntry[str], prefix: str) -> _Rule | None:
    """The rules of a ``.gitignore``, parsed once per version of the file (scans repeat)."""
    try:
        st = entry.stat()
    except OSError:
        return None
    if time.time_ns() - st.st_ctime_ns < _FRESH_NS:  # may change again within its timestamp tick
        return _load_rule(entry.path, prefix)
    key = (entry.path, prefix, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in _RULE_CACHE:
        if len(_RULE_CACHE) > 4096:
            _RULE_CACHE.clear()
        _RULE_CACHE[key] = _load_rule(entry.path, prefix)
    return _RULE_CACHE[key]


def _load_rule(path: str, prefix: str) -> _Rule | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
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
