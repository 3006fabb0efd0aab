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
from collections.abc import Callable, Iterator
from itertools import islice, pairwise
from pathlib import Path

from agentcli.agent.errors import ToolError
from agentcli.agent.workspace.gitignore import GitIgnore, list_folder, path_ignored
from agentcli.agent.workspace.gitindex import TrackedIndex
from agentcli.agent.workspace.jail import Workspace

_MAX_BRACE_EXPANSIONS = 64


def walk_files(workspace: Workspace, start: Path | None = None) -> Iterator[Path]:
    """Yield the files under ``start`` (default: the root) that git would not ignore.

    Honours the root and nested ``.gitignore`` files and ``.git/info/exclude``, and keeps
    an ignored file git tracks (git's rule: a tracked file is never ignored); never
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
    tracked = TrackedIndex(top, rel)
    protected = {os.fspath(p) for p in workspace.protected}
    Entry = tuple[str, str, GitIgnore, bool]  # path, prefix, rules in force, entered only for tracked paths
    stack: list[Entry] = [(os.fspath(start), f"{rel}/" if rel else "", rules, False)]
    while stack:
        path, prefix, inherited, hidden = stack.pop()
        folder = list_folder(path, prefix, inherited, protected, tracked, hidden)
        if folder is None:  # unreadable folder: skip it, as git would
            continue
        subfolders: list[Entry] = []
        for entry, rel, is_dir in sorted(folder.entries, key=lambda kept: kept[0].name):
            if is_dir:
                subfolders.append((entry.path, rel + "/", folder.ignore, hidden or rel in folder.hidden))
            elif entry.is_file():  # regular files and symlinks to files, not to folders
                yield Path(entry.path)
        stack.extend(reversed(subfolders))


def _relative(workspace: Workspace, path: Path) -> str:
    """``path`` relative to the root, ``/``-separated (``""`` for the root itself)."""
    rel = path.relative_to(workspace.root).as_posix()
    return "" if rel == "." else rel


def compile_glob(pattern: str) -> Callable[[str], bool]:
    """A matcher for ``/``-separated relative paths.

    ``*`` and ``?`` stay within one folder, ``**`` as a whole segment spans folders (a
    trailing one: everything below), ``[abc]`` and ``{a,b}`` work as in a shell. A pattern
    without ``/`` matches the file name at any depth (``*.py``); one with ``/`` matches the
    whole path (``src/**/*.ts``). Matching takes time linear in the path's length, whatever
    the pattern (no backtracking blow-up on ``*a*a*a*a*b``).

    Raises:
        ToolError: an invalid pattern (a class such as ``[z-a]``).
    """
    matchers: list[Callable[[str], bool]] = []
    for alternative in islice(_expand_braces(pattern.strip()), _MAX_BRACE_EXPANSIONS):
        alternative = alternative.removeprefix("./").lstrip("/")
        if "/" not in alternative:
            name = _compile_name(alternative, pattern)
            matchers.append(lambda rel, m=name: m(rel.rsplit("/", 1)[-1]))
        else:
            parts = [None if part == "**" else _compile_name(part, pattern)
                     for part in alternative.split("/")]
            matchers.append(lambda rel, p=parts: _match_parts(p, rel.split("/")))
    return lambda rel: any(match(rel) for match in matchers)


def _match_parts(parts: list[Callable[[str], bool] | None], names: list[str]) -> bool:
    """Whether path ``names`` match pattern ``parts`` (None: ``**``), in len(parts)×len(names) steps."""
    reach = [True] + [False] * len(names)  # reach[j]: the parts so far match names[:j]
    last = len(parts) - 1
    for index, part in enumerate(parts):
        if part is None:  # any number of names; a trailing "**" at least one (what is below)
            seen, spread = False, []
            for ok in reach:
                spread.append(seen or (ok and index != last))
                seen = seen or ok
            reach = spread
        else:
            reach = [False] + [reach[j] and part(name) for j, name in enumerate(names)]
    return reach[-1]


def _compile_name(glob: str, pattern: str) -> Callable[[str], bool]:
    """A matcher for one file name; ``*`` runs (``**`` too) match any characters.

    The text between two stars is found at its first place, atomically: no backtracking
    into it, which is safe for fixed-length pieces and keeps matching linear.
    """
    import regex  # ~10 ms to import: only when a glob is used, not at every start

    pieces = _pieces(glob)
    if len(pieces) == 1:
        source = pieces[0] + r"\Z"
    else:
        middle = "".join(f"(?>.*?{piece})" for piece in pieces[1:-1])
        source = pieces[0] + middle + ".*" + pieces[-1] + r"\Z"
    try:
        return regex.compile(source, regex.DOTALL | regex.VERSION0).match  # type: ignore[no-any-return]
    except regex.error as exc:
        raise ToolError(f"Invalid glob {pattern!r}: {exc}.") from None


def _pieces(glob: str) -> list[str]:
    """The regexes of the fixed-length pieces between the star runs of one name's glob."""
    import regex  # imported already by _compile_name, the one caller

    pieces: list[list[str]] = [[]]
    i = 0
    while i < len(glob):
        char = glob[i]
        if char == "*":
            if glob[i - 1 : i] != "*":
                pieces.append([])
        elif char == "?":
            pieces[-1].append(".")
        elif char == "[" and (close := glob.find("]", i + 2)) != -1:
            body = glob[i + 1 : close]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            pieces[-1].append("[" + ("^" if negate else "") + _class_body(body) + "]")
            i = close + 1
            continue
        else:
            pieces[-1].append(regex.escape(char))
        i += 1
    return ["".join(piece) for piece in pieces]


def _class_body(body: str) -> str:
    return body.replace("\\", "\\\\").replace("[", "\\[")


def _expand_braces(pattern: str) -> Iterator[str]:
    """The alternatives of ``{a,b}``, lazily: ``{a,b}`` thirty times over is 2**30 of them."""
    start = pattern.find("{")
    if start == -1:
        yield pattern
        return
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
                head, tail = pattern[:start], pattern[i + 1 :]
                for a, b in pairwise(bounds):
                    yield from _expand_braces(head + pattern[a + 1 : b] + tail)
                return
        elif pattern[i] == "," and depth == 1:
            commas.append(i)
    # No matching brace or no comma: the "{" is literal; expand what follows it.
    for rest in _expand_braces(pattern[start + 1 :]):
        yield pattern[: start + 1] + rest
