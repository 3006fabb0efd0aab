"""The ``.gitignore`` rules: our pre-checks from the source lines, beside pathspec and git.

``GitIgnore`` decides with pathspec's ``GitIgnoreSpec`` and skips it when no pattern of
a file could match, judged from the file's lines (``_parse_line``). Each case below is
walked three ways over the same tree: by us, by pathspec alone (pruning ignored folders
as a walk does), and by ``git ls-files --others --exclude-standard`` where git exists.
A pathspec upgrade that changes what it matches fails here, named by case.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pathspec
import pytest

from agentcli.agent.workspace.gitignore import GitIgnore, _parse_line, list_folder, path_ignored

FOLDERS = [
    "a", "a/b", "a/x", "a/x/b", "build", "docs", "docs/_build", "foo.d", "logs", "node_modules",
    "src", "src/build", "src/lib",
]
FILES = [
    "#hash", "!bang", "Makefile", "a.log", "a.pyc", "a.pyo", "a.pyz", "abc", "bbc", "sp ace",
    "trail", "trail ", "x1", "xa", "a/b/c.txt", "a/x/b/c.txt", "a/x/c.txt", "build/out.o",
    "docs/_build/i.html", "docs/readme.md", "foo.d/x.c", "logs/keep.txt", "logs/other.txt",
    "node_modules/p.js", "src/a.log", "src/b.txt", "src/build/x.o", "src/lib/keep.log",
    "src/lib/m.py", "src/lib/m.pyc",
]

# (case id, {folder: lines of its .gitignore}): every shape of line git knows.
CASES: list[tuple[str, dict[str, list[str]]]] = [
    ("suffix", {"": ["*.log"]}),
    ("dir-only name", {"": ["build/"]}),
    ("anchored name", {"": ["/build"]}),
    ("bare name", {"": ["build"]}),
    ("negation", {"": ["*.log", "!keep.log"]}),
    ("anchored dir path", {"": ["docs/_build/"]}),
    ("inner double star", {"": ["a/**/c.txt"]}),
    ("leading double star", {"": ["**/b"]}),
    ("trailing double star", {"": ["a/**"]}),
    ("double star dir", {"": ["**/x/b/"]}),
    ("class", {"": ["*.py[cod]"]}),
    ("range", {"": ["x[0-9]"]}),
    ("negated range", {"": ["x[!0-9]"]}),
    ("caret class", {"": ["[^a]bc"]}),
    ("question mark", {"": ["?bc"]}),
    ("escaped hash", {"": ["\\#hash"]}),
    ("comment", {"": ["#hash", "", "   "]}),
    ("escaped bang", {"": ["\\!bang"]}),
    ("trailing spaces", {"": ["trail   "]}),
    ("escaped trailing space", {"": ["trail\\ "]}),
    ("inner space", {"": ["sp ace"]}),
    ("allowlist", {"": ["/*", "!/src/", "!/docs/"]}),
    ("everything but md", {"": ["*", "!*/", "!*.md"]}),
    ("folder contents but one", {"": ["logs/*", "!logs/keep.txt"]}),
    ("plain names", {"": ["node_modules/", "*.pyc", "Makefile", "foo.d"]}),
    ("star in segment", {"": ["*.d/", "a/*/c.txt"]}),
    ("nested", {"": ["*.log", "*.txt"], "src": ["!a.log", "build"], "logs": ["!keep.txt"]}),
    ("nested anchored", {"": ["/x1"], "a": ["/b", "x/c.txt"]}),
    ("bad line skipped", {"": ["!", "*.o"]}),
    ("odd brackets", {"": ["x[", "[]a]bc", "[z-a]"]}),
    ("double star in segment", {"": ["a**", "**"]}),
]

# Where pathspec 1.1.1 and git part ways (strict: a fixed release shows up as a pass).
# A negated class matches the "/" that marks a folder in pathspec, so "x[!0-9]" ignores a
# folder "x"; our pre-check never lets a class match "/", as in git.
PATHSPEC_DIFFERS = {"negated range"}
# pathspec gives "*" priority over "!*/" for a folder, so it prunes "docs/" that git keeps.
GIT_DIFFERS = {"everything but md"}


def cases(differs: set[str]) -> list[object]:
    """``CASES`` as parameters, those in ``differs`` expected (strictly) to fail."""
    expected_failure = [pytest.mark.xfail(strict=True)]
    return [pytest.param(case, ignores, id=case, marks=expected_failure if case in differs else [])
            for case, ignores in CASES]


def make_tree(root: Path, ignores: dict[str, list[str]]) -> None:
    """The tree of ``FOLDERS`` and ``FILES``, with the case's ``.gitignore`` files."""
    for folder in FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for file in FILES:
        (root / file).write_text("x\n")
    for folder, lines in ignores.items():
        (root / folder / ".gitignore").write_text("".join(line + "\n" for line in lines))


def our_files(root: Path) -> set[str]:
    """The files our walk keeps (``list_folder`` from the root, ignored folders pruned)."""
    kept: set[str] = set()
    stack = [(str(root), "", GitIgnore.at_root(str(root)))]
    while stack:
        path, prefix, rules = stack.pop()
        folder = list_folder(path, prefix, rules)
        assert folder is not None
        for entry, rel, is_dir in folder.entries:
            if is_dir:
                stack.append((entry.path, rel + "/", folder.ignore))
            else:
                kept.add(rel)
    return kept


def pathspec_ignores(ignores: dict[str, list[str]], rel: str, is_dir: bool) -> bool:
    """pathspec's own decision for ``rel``, its folders taken as not ignored: the deepest
    ``.gitignore`` with a matching pattern decides, within it the last match."""
    mark = "/" if is_dir else ""
    for folder in sorted(ignores, key=len, reverse=True):
        base = folder + "/" if folder else ""
        if not rel.startswith(base):
            continue
        spec = pathspec.GitIgnoreSpec.from_lines(line for line in ignores[folder] if _valid(line))
        decision = spec.check_file(rel[len(base) :] + mark).include
        if decision is not None:
            return decision
    return False


def pathspec_files(ignores: dict[str, list[str]]) -> set[str]:
    """The files pathspec keeps, pruning every folder it ignores, as a walk does."""
    def hidden(rel: str, is_dir: bool) -> bool:
        parts = rel.split("/")
        return any(pathspec_ignores(ignores, "/".join(parts[:n]), True) for n in range(1, len(parts))) \
            or pathspec_ignores(ignores, rel, is_dir)

    files = set(FILES) | {f"{folder}/.gitignore" if folder else ".gitignore" for folder in ignores}
    return {rel for rel in files if not hidden(rel, is_dir=False)}


def _valid(line: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except (ValueError, re.error):
        return False
    return True


@pytest.mark.parametrize(("case", "ignores"), cases(PATHSPEC_DIFFERS))
def test_walk_keeps_what_pathspec_keeps(tmp_path: Path, case: str, ignores: dict[str, list[str]]) -> None:
    make_tree(tmp_path, ignores)
    assert our_files(tmp_path) == pathspec_files(ignores), case


@pytest.mark.parametrize(("case", "ignores"), cases(set()))
def test_path_ignored_agrees_with_the_walk(tmp_path: Path, case: str, ignores: dict[str, list[str]]) -> None:
    make_tree(tmp_path, ignores)
    kept = our_files(tmp_path)
    every = set(FILES) | {f"{folder}/.gitignore" if folder else ".gitignore" for folder in ignores}
    assert {rel for rel in every if not path_ignored(str(tmp_path), rel, is_dir=False)} == kept, case


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize(("case", "ignores"), cases(GIT_DIFFERS))
def test_walk_keeps_what_git_keeps(tmp_path: Path, case: str, ignores: dict[str, list[str]]) -> None:
    make_tree(tmp_path, ignores)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=env)
    listed = subprocess.run(["git", "ls-files", "-z", "--others", "--exclude-standard"], cwd=tmp_path,
                            check=True, capture_output=True, text=True, env=env).stdout
    assert our_files(tmp_path) == set(filter(None, listed.split("\0"))), case


@pytest.mark.parametrize(("line", "plain"), [
    ("node_modules/", True), ("*.log", True), ("build", True), ("/build", True), ("!keep.log", True),
    ("docs/_build/", True), ("a/**/c.txt", True), ("**/b", True), ("*.py[cod]", True),
    ("x[!0-9]", True), ("sp ace", True), ("trail   ", True),
    ("\\#hash", False), ("trail\\ ", False), ("a**", False), ("**", False), ("x[", False),
    ("[]a]bc", False), ("[z-a]", False), ("[[:alpha:]]", False), (" lead", False), ("tab\t", False),
])
def test_lines_are_classified_from_their_source(line: str, plain: bool) -> None:
    """Plain patterns get a pre-check of our own; anything else is left to pathspec."""
    pattern = _parse_line(line)
    assert pattern is not None
    assert (pattern.regex is not None) is plain


@pytest.mark.parametrize("line", ["", "   ", "# a comment", "#hash"])
def test_blank_lines_and_comments_are_no_patterns(line: str) -> None:
    assert _parse_line(line) is None
