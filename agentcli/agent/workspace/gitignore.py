"""The ``.gitignore`` rules as git applies them, for every walk in agentcli.

:class:`GitIgnore` owns the ignore semantics of the file tools' walks and the change
tracker's: ``.git/info/exclude``, the root's ``.gitignore`` and nested ones, each file
parsed once per version. :func:`list_folder` applies them to one folder and
:func:`path_ignored` to any one path.

Example:
    >>> # /repo/.gitignore holds "*.log"
    >>> path_ignored("/repo", "src/app.log", is_dir=False)
    True
    >>> GitIgnore.above("/repo", "src/app.log").ignores("app.log", "src/app.log", is_dir=False)
    True
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Collection
from typing import NamedTuple

import pathspec

GIT_DIR = ".git"
SETTLE_NS = 2_000_000_000  # what changed more recently may change again within the same timestamp tick
_GROUP = re.compile(r"\(\?P<\w+>")
_ANY_FOLDERS = "^(?:.+/)?"  # how pathspec starts a pattern that matches at any depth
_ONE_LEVEL = re.compile(r"\(\?P<ps_d>/\)|\[\^/\]")  # the dir mark and "any but /": no folder crossed
_Check = Callable[[str], object]
# (prefix of the folder holding the .gitignore, its spec, quick checks by name and by path)
_Rule = tuple[str, pathspec.GitIgnoreSpec, _Check | None, _Check | None]
_RULE_CACHE: dict[tuple[str, str, int, int, int, int], _Rule | None] = {}


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
