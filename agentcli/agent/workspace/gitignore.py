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
from typing import TYPE_CHECKING, NamedTuple

from agentcli.agent.workspace.jail import TEMP_SUFFIX, is_temporary

if TYPE_CHECKING:
    import pathspec

    from agentcli.agent.workspace.gitindex import TrackedIndex

GIT_DIR = ".git"
MAX_IGNORE_BYTES = 1 << 20  # a larger ignore file is skipped, not read
SETTLE_NS = 2_000_000_000  # what changed more recently may change again within the same timestamp tick
_Check = Callable[[str], object]
_ALWAYS: _Check = re.compile("").match  # a rule whose patterns we cannot pre-check: ask pathspec
# "[abc]", "[a-z0-9]", "[!._]": letters, digits, "." and "_", single ranges; "^" negates as "!" does
_PLAIN_CLASS = re.compile(r"\[([!^]?)((?:[A-Za-z0-9_.](?:-[A-Za-z0-9_.])?)+)\]")
# (prefix of the folder holding the .gitignore, its spec, quick checks by name and by path)
_Rule = tuple[str, "pathspec.GitIgnoreSpec", _Check | None, _Check | None]
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
    hidden: frozenset[str] = frozenset()  # subfolders kept though ignored: they hold tracked paths


def list_folder(path: str, prefix: str, inherited: GitIgnore, excluded: Collection[str] = (),
                tracked: TrackedIndex | None = None, hidden: bool = False) -> Folder | None:
    """The entries of the folder at ``path`` git would not ignore, in no particular order.

    ``prefix`` is the folder's relative path and ``/`` (``""`` for the root), ``inherited``
    the rules in force in its parent; ``.git``, agentcli's temporary files and the real
    paths in ``excluded`` are left out. A symlink is never a folder here. None when the
    folder cannot be read (git skips it).

    With ``tracked`` (the walk's :class:`TrackedIndex`, told of the folder's ``.git``) an
    ignored path git tracks is kept, as git keeps it; ``hidden`` says the folder itself is
    ignored and was entered only for what it holds that git tracks.
    """
    try:
        with os.scandir(path) as listing:
            entries = list(listing)
    except OSError:
        return None
    names = {entry.name for entry in entries}
    has_gitignore = ".gitignore" in names
    if tracked is not None:
        tracked.seen_folder(path, prefix, GIT_DIR in names)
    ignore = inherited.entering(path, prefix) if has_gitignore else inherited
    ignores = ignore.ignores
    kept = []
    kept_hidden = []
    for entry in entries:
        name = entry.name
        if len(name) == 4 and name.casefold() == GIT_DIR:
            continue
        if name.endswith(TEMP_SUFFIX) and is_temporary(name):  # agentcli's own, never the user's
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:  # vanished while we looked
            continue
        rel = prefix + name
        if excluded and entry.path in excluded:
            continue
        if hidden or ignores(name, rel, is_dir):
            if tracked is None or not (tracked.holds(rel) if is_dir else tracked.has_file(rel)):
                continue
            if is_dir:
                kept_hidden.append(rel)
        kept.append((entry, rel, is_dir))
    return Folder(ignore, has_gitignore, kept, frozenset(kept_hidden))


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
    text = _read_ignore_file(path)
    if text is None:
        return None
    import pathspec  # ~20 ms to import: only once there is an ignore file to parse

    lines = text.splitlines()
    kept = lines
    try:
        spec = pathspec.GitIgnoreSpec.from_lines(kept)
    except (ValueError, re.error):  # one bad line ("!", "[z-a]") must not void the file: git skips it
        kept = [line for line in lines if _valid(line)]
        spec = pathspec.GitIgnoreSpec.from_lines(kept)
    if not spec.patterns:
        return None
    by_name, by_path = _quick_checks(kept)
    return prefix, spec, by_name, by_path


def _read_ignore_file(path: str) -> str | None:
    """An ignore file's text; None for a folder, a FIFO or device (a ``.gitignore`` FIFO
    would block the open, a link to ``/dev/zero`` never ends), an unreadable file, or one
    over ``MAX_IGNORE_BYTES`` (git too skips an oversized ignore file)."""
    from agentcli.agent.workspace.gitindex import read_regular

    data = read_regular(path, MAX_IGNORE_BYTES)
    return None if data is None or len(data) > MAX_IGNORE_BYTES else data.decode("utf-8", errors="replace")


def _quick_checks(lines: list[str]) -> tuple[_Check | None, _Check | None]:
    """Regexes that match whenever some pattern could, so most paths skip ``check_file``.

    Built from the ``.gitignore`` source lines (never from pathspec's compiled regexes):
    a pattern within :func:`_parse_line`'s plain subset becomes one alternative; one
    beyond it sends every path to ``check_file``. Without negations, a pattern with no
    inner ``/`` can only match a path by its last component, so it is tried on the short
    name; the others on the path, where a match of a folder covers its contents. With a
    negation (``!keep.log``) every pattern is tried on the path. Our classes never match
    "/", as git's don't, so where pathspec's would (``x[!0-9]`` on a folder ``x``) git's
    answer wins.
    """
    parsed = [_parse_line(line) for line in lines]
    patterns = [p for p in parsed if p is not None]
    negated = any(p.negated for p in patterns)
    names: list[str] = []
    paths: list[str] = []
    for pattern in patterns:
        if pattern.negated:  # a negation only ever un-ignores: it cannot make a check pass
            continue
        if pattern.regex is None:
            return None, _ALWAYS
        if pattern.anchored:
            paths.append("^" + pattern.regex + ("/" if pattern.dir_only else "(?:/|$)"))
        elif negated:
            paths.append("(?:^|/)" + pattern.regex + ("/" if pattern.dir_only else "(?:/|$)"))
        else:
            names.append("^" + pattern.regex + ("/$" if pattern.dir_only else "/?$"))
    by_name = re.compile("|".join(f"(?:{p})" for p in names)).search if names else None
    by_path = re.compile("|".join(f"(?:{p})" for p in paths)).search if paths else None
    return by_name, by_path


class _Pattern(NamedTuple):
    """One ``.gitignore`` line, read as git reads it."""

    negated: bool
    anchored: bool  # a "/" before its end: matched from the ignore file's folder, not at any depth
    dir_only: bool  # a trailing "/": matches folders only
    regex: str | None  # the glob as a regex, without anchors; None beyond the plain subset


def _parse_line(line: str) -> _Pattern | None:
    """The pattern on one ``.gitignore`` line; None for a blank line or a comment.

    The plain subset is what real ignore files are made of: literal names, ``*``, ``?``,
    ``[abc]``/``[!a-z]`` classes, ``**`` as a whole segment between slashes. Escapes,
    tabs, leading spaces, ``**`` inside a segment or alone and unusual classes are left
    to pathspec (``regex`` None).
    """
    body = line.rstrip(" ")  # git drops trailing spaces; an escaped one keeps its backslash: not plain
    if not body or body.startswith("#"):
        return None
    negated = body.startswith("!")
    body = body[1:] if negated else body
    dir_only = body.endswith("/")
    body = body[:-1] if dir_only else body
    anchored = "/" in body
    segments = body.removeprefix("/").split("/")
    beyond = (not body or body.startswith(" ") or any(char in body for char in "\\\t\r\v\f")
              or any(not seg or ("**" in seg and seg != "**") for seg in segments)
              or (not anchored and segments == ["**"]))
    regex = None if beyond else _segments_regex(segments)
    return _Pattern(negated, anchored, dir_only, regex)


def _segments_regex(segments: list[str]) -> str | None:
    """``a/**/b*`` as ``a/(?:.*/)?b[^/]*``; None when a segment is beyond the plain subset."""
    out = []
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment == "**":
            out.append(".*" if index == last else "(?:.*/)?")  # anything below / any folders
            continue
        regex = _segment_regex(segment)
        if regex is None:
            return None
        out.append(regex if index == last else regex + "/")
    joined = "".join(out)
    try:
        re.compile(joined)  # a class like [z-a]
    except re.error:
        return None
    return joined


def _segment_regex(segment: str) -> str | None:
    """One segment's glob as a regex that never crosses a "/"; None beyond the plain subset."""
    out = []
    index = 0
    while index < len(segment):
        char = segment[index]
        if char == "[":
            match = _PLAIN_CLASS.match(segment, index)
            if match is None:
                return None
            negated, members = match.groups()
            out.append(f"[^/{members}]" if negated else f"[{members}]")
            index = match.end()
            continue
        if char == "]":
            return None
        out.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
        index += 1
    return "".join(out)


def _valid(line: str) -> bool:
    import pathspec  # imported already by _load_rule, the one caller

    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except (ValueError, re.error):
        return False
    return True
