"""Walking the workspace the way git sees it, for the file tools; globs.

The ignore rules are :class:`~agentcli.agent.workspace.gitignore.GitIgnore`'s, the same the change
tracker applies, so the tools and the session log agree on what git would ignore.

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

from agentcli.agent.workspace.gitignore import GitIgnore, list_folder, path_ignored
from agentcli.agent.workspace.jail import Workspace

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
    if workspace.is_protected(start):
        return
    if not start.is_dir():
        if start.exists():
            yield start
        return
    top, rel = os.fspath(workspace.root), _relative(workspace, start)
    rules = GitIgnore.above(top, rel)
    if rel and path_ignored(top, rel, is_dir=True):
        rules = GitIgnore()  # named explicitly: walked with the rules below it only
    protected = {os.fspath(p) for p in workspace.protected}
    stack: list[tuple[str, str, GitIgnore]] = [(os.fspath(start), rel + "/" if rel else "", rules)]
    while stack:
        path, prefix, inherited = stack.pop()
        folder = list_folder(path, prefix, inherited, protected)
        if folder is None:  # unreadable folder: skip it, as git would
            continue
        subfolders: list[tuple[str, str, GitIgnore]] = []
        for entry, rel, is_dir in sorted(folder.entries, key=lambda kept: kept[0].name):
            if is_dir:
                subfolders.append((entry.path, rel + "/", folder.ignore))
            elif entry.is_file():  # regular files and symlinks to files, not to folders
                yield Path(entry.path)
        stack.extend(reversed(subfolders))


def is_ignored(workspace: Workspace, path: Path) -> bool:
    """Whether git would ignore ``path`` (an absolute path inside the workspace)."""
    rel = _relative(workspace, path)
    return bool(rel) and path_ignored(os.fspath(workspace.root), rel, is_dir=path.is_dir())


def _relative(workspace: Workspace, path: Path) -> str:
    """``path`` relative to the root, ``/``-separated (``""`` for the root itself)."""
    rel = path.relative_to(workspace.root).as_posix()
    return "" if rel == "." else rel


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
