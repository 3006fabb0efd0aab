"""Walking the workspace the way git sees it: ``.gitignore`` rules, no ``.git``, globs.

Example:
    >>> ws = Workspace(Path("/repo"))
    >>> [ws.relative(p) for p in walk_files(ws)]
    ['README.md', 'src/app.py']
    >>> compile_glob("src/**/*.{ts,tsx}")("src/ui/button.tsx")
    True
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from itertools import pairwise
from pathlib import Path

import pathspec

from agentcli.agent.workspace import GIT_DIR, Workspace

_Rules = list[tuple[Path, pathspec.GitIgnoreSpec]]
_MAX_BRACE_EXPANSIONS = 64


def walk_files(workspace: Workspace, start: Path | None = None) -> Iterator[Path]:
    """Yield the files under ``start`` (default: the root) that git would not ignore.

    Honours the root and nested ``.gitignore`` files and ``.git/info/exclude``; never
    enters ``.git`` folders, protected folders or symlinked folders. Symlinks to files are
    yielded as they are (a reader must still resolve them through the workspace); symlinks
    to folders, dangling symlinks and special files are not.
    A folder named explicitly as ``start`` is walked even if it is itself ignored.
    Order: each folder's files by name, then its subfolders, depth first.
    """
    start = Path(start) if start is not None else workspace.root
    rules = _rules_above(workspace, start)
    if not start.is_dir():
        if start.exists() and not workspace.is_protected(start):
            yield start
        return
    if start != workspace.root and _is_ignored(rules, start, is_dir=True):
        rules = []
    stack: list[tuple[Path, _Rules]] = [(start, rules)]
    while stack:
        folder, inherited = stack.pop()
        rules = _with_folder_rules(inherited, folder)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:  # unreadable folder: skip it, as git would
            continue
        subfolders: list[Path] = []
        for entry in entries:
            path = Path(entry.path)
            is_dir = entry.is_dir(follow_symlinks=False)
            if entry.name.casefold() == GIT_DIR or workspace.is_protected(path):
                continue
            if _is_ignored(rules, path, is_dir=is_dir):
                continue
            if is_dir:
                subfolders.append(path)
            elif entry.is_file():  # regular files and symlinks to files, not to folders
                yield path
        stack.extend((sub, rules) for sub in reversed(subfolders))


def is_ignored(workspace: Workspace, path: Path) -> bool:
    """Whether git would ignore ``path`` (an absolute path inside the workspace)."""
    rules = _rules_above(workspace, path)
    return _is_ignored(rules, path, is_dir=path.is_dir())


def _rules_above(workspace: Workspace, path: Path) -> _Rules:
    """The rules that apply to ``path``: the exclude file and each ancestor's .gitignore."""
    rules: _Rules = []
    exclude = _load_spec(workspace.root / GIT_DIR / "info" / "exclude")
    if exclude is not None:
        rules.append((workspace.root, exclude))
    try:
        parts = path.relative_to(workspace.root).parts
    except ValueError:
        return rules
    folder = workspace.root
    for part in parts:  # every folder strictly above ``path``
        rules = _with_folder_rules(rules, folder)
        folder = folder / part
    return rules


def _with_folder_rules(rules: _Rules, folder: Path) -> _Rules:
    spec = _load_spec(folder / ".gitignore")
    return [*rules, (folder, spec)] if spec is not None else rules


def _is_ignored(rules: _Rules, path: Path, *, is_dir: bool) -> bool:
    # A deeper .gitignore overrides a shallower one; within a file the last match wins.
    for base, spec in reversed(rules):
        rel = path.relative_to(base).as_posix() + ("/" if is_dir else "")
        decision = spec.check_file(rel).include
        if decision is not None:
            return decision
    return False


def _load_spec(path: Path) -> pathspec.GitIgnoreSpec | None:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:  # absent, a folder, unreadable: no rules
        return None
    try:
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError:  # one bad line must not void the whole file: git skips it too
        spec = pathspec.GitIgnoreSpec.from_lines(line for line in lines if _valid(line))
    return spec if spec.patterns else None


def _valid(line: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except ValueError:
        return False
    return True


def compile_glob(pattern: str) -> Callable[[str], bool]:
    """A matcher for ``/``-separated relative paths.

    ``*`` and ``?`` stay within one folder, ``**`` spans folders, ``[abc]`` and
    ``{a,b}`` work as in a shell. A pattern without ``/`` matches the file name at any
    depth (``*.py``); one with ``/`` matches the whole path (``src/**/*.ts``).
    """
    matchers: list[Callable[[str], bool]] = []
    for alternative in _expand_braces(pattern.strip())[:_MAX_BRACE_EXPANSIONS]:
        alternative = alternative.removeprefix("./").lstrip("/")
        regex = re.compile(_translate(alternative))
        if "/" in alternative:
            matchers.append(lambda rel, r=regex: r.match(rel) is not None)
        else:
            matchers.append(lambda rel, r=regex: r.match(rel.rsplit("/", 1)[-1]) is not None)
    return lambda rel: any(match(rel) for match in matchers)


def _translate(glob: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (close := glob.find("]", i + 2)) != -1:
            body = glob[i + 1 : close]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out.append("[" + ("^" if negate else "") + _class_body(body) + "]")
            i = close + 1
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out) + r"\Z"


def _class_body(body: str) -> str:
    return body.replace("\\", "\\\\").replace("[", "\\[")


def _expand_braces(pattern: str) -> list[str]:
    start = pattern.find("{")
    if start == -1:
        return [pattern]
    depth, commas = 0, []
    for i in range(start, len(pattern)):
        if pattern[i] == "{":
            depth += 1
        elif pattern[i] == "}":
            depth -= 1
            if depth == 0:
                if not commas:
                    break
                bounds = [start, *commas, i]
                options = [pattern[a + 1 : b] for a, b in pairwise(bounds)]
                head, tail = pattern[:start], pattern[i + 1 :]
                return [x for opt in options for x in _expand_braces(head + opt + tail)]
        elif pattern[i] == "," and depth == 1:
            commas.append(i)
    # No matching brace or no comma: the "{" is literal; expand what follows it.
    return [pattern[: start + 1] + rest for rest in _expand_braces(pattern[start + 1 :])]
