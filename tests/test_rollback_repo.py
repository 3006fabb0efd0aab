"""Rollback on real repositories: a file git tracks is part of the workspace, ignored or not.

pallets/flask commits ``.flaskenv`` and ``tests/test_apps/.env`` although its own
``.gitignore`` lists them (git keeps tracking a file once it is added). Each test builds
a real git repository (``git`` on the PATH) shaped like that, drives the tracker the way
the loop does, and compares whole trees — every file but those under ``.git``, the
sessions folder and the untracked ignored ones, which stay out as before.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from test_rollback import file_tool, shell, start_prompt

from agentcli.agent.history.diff import diff_since
from agentcli.agent.history.rollback import rollback, undo_last_rollback
from agentcli.agent.history.tracker import Tracker
from agentcli.agent.workspace.edits import plan_write
from agentcli.agent.workspace.gitindex import TrackedIndex, parse_index
from agentcli.agent.workspace.jail import Workspace
from agentcli.agent.workspace.treewalk import TreeWalker, walk_tree
from agentcli.agent.workspace.walk import walk_files
from agentcli.session.session import Session

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

GITIGNORE = ".env\n.flaskenv\n*.pyc\nbuild/\n"
Tree = dict[str, tuple[bytes, int]]


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost",
                           "-c", "protocol.file.allow=always", *args], cwd=cwd, check=True,
                          capture_output=True, text=True)
    return done.stdout


def flask_like(root: Path, *init: str) -> Path:
    """A repository that tracks files its own .gitignore matches, and has untracked ignored ones."""
    root.mkdir(parents=True)
    git(root, "init", "-q", *init)
    files = {".gitignore": GITIGNORE, ".flaskenv": "FLASK_APP=hello\n", "tests/test_apps/.env": "FOO=env\n",
             "build/keep.txt": "tracked in an ignored folder\n", "app.py": "print('hi')\n",
             "cache.pyc": "untracked and ignored\n", "build/out.o": "untracked build output\n"}
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    git(root, "add", ".gitignore", "app.py")
    git(root, "add", "-f", ".flaskenv", "tests/test_apps/.env", "build/keep.txt")
    git(root, "commit", "-q", "-m", "init")
    return root


def tree(root: Path) -> Tree:
    """Every file's bytes and mode, outside .git and the sessions folder."""
    found: Tree = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".git", "sessions")]
        for name in files:
            path = Path(folder) / name
            found[path.relative_to(root).as_posix()] = (path.read_bytes(), path.stat().st_mode & 0o7777)
    return found


def open_tracked(root: Path, tmp_path: Path) -> tuple[Session, Tracker]:
    session = Session.create(tmp_path / "sessions" / "0123456789abc.sqlite", workspace_root=root)
    return session, Tracker(session, root, exclude=[tmp_path / "sessions"])


def logged(session: Session) -> set[str]:
    return {change.path for change in session.files.all()}


def test_a_tracked_file_its_gitignore_matches_is_logged_diffed_and_rolled_back(tmp_path: Path) -> None:
    root = flask_like(tmp_path / "flask")
    session, tracker = open_tracked(root, tmp_path)
    ws = Workspace(root)
    before = tree(root)
    prompt = start_prompt(session, tracker, "change the env files")
    shell(session, tracker, root, prompt, "echo FLASK_DEBUG=1 >> .flaskenv && printf 'BAR=2\\n' > "
          "tests/test_apps/.env && echo more >> build/keep.txt && echo junk >> cache.pyc && "
          "echo rebuilt > build/out.o")
    file_tool(session, tracker, ws, prompt, plan_write(ws, ".flaskenv", "FLASK_APP=written\n"), "write_file")
    after = tree(root)
    assert logged(session) == {".flaskenv", "tests/test_apps/.env", "build/keep.txt"}
    text = diff_since(session, 1)
    assert "+BAR=2" in text and "+FLASK_APP=written" in text and "+more" in text and "pyc" not in text

    result = rollback(session, root, conversation=False)
    assert not result.partial and sorted(result.restored) == [".flaskenv", "build/keep.txt",
                                                              "tests/test_apps/.env"]
    untracked = {"cache.pyc", "build/out.o"}  # not the session's: left as the command made them
    assert {k: v for k, v in tree(root).items() if k not in untracked} == {
        k: v for k, v in before.items() if k not in untracked}
    assert (root / "cache.pyc").read_text().endswith("junk\n")
    undo = undo_last_rollback(session, root)
    assert not undo.partial and tree(root) == after
    session.close()


def test_git_add_and_rm_during_the_session_move_a_file_in_and_out_of_the_workspace(tmp_path: Path) -> None:
    root = flask_like(tmp_path / "repo")
    (root / ".env").write_text("SECRET=old\n")  # untracked and ignored: not the workspace's yet
    session, tracker = open_tracked(root, tmp_path)
    prompt = start_prompt(session, tracker, "work")
    shell(session, tracker, root, prompt, "echo one >> .env")
    assert ".env" not in logged(session)
    git(root, "add", "-f", ".env")  # the user adds it between two commands: tracked from now on
    shell(session, tracker, root, prompt, "true")
    assert ".env" not in logged(session)  # it was there before: adopted, not blamed on a command
    shell(session, tracker, root, prompt, "echo two >> .env")
    assert ".env" in logged(session)
    at_two = (root / ".env").read_bytes()
    git(root, "rm", "-q", "-f", "--cached", ".env")  # untracked again: still watched, as a path once tracked
    shell(session, tracker, root, prompt, "echo three >> .env")
    assert [c.after_size for c in session.files.all() if c.path == ".env"] == [len(at_two), len(at_two) + 6]
    rollback(session, root, conversation=False)
    assert (root / ".env").read_text() == "SECRET=old\none\n"
    session.close()


def test_a_worktree_and_a_workspace_below_the_top_read_the_right_index(tmp_path: Path) -> None:
    main = flask_like(tmp_path / "main")
    worktree = tmp_path / "feature"
    git(main, "worktree", "add", "-q", str(worktree))
    assert (worktree / ".git").is_file()
    assert {".flaskenv", "tests/test_apps/.env", "build/keep.txt"} <= set(walk_tree(worktree))
    below = walk_tree(main / "tests")  # -C tests: paths relative to the workspace, not the top
    assert "test_apps/.env" in below
    session, tracker = open_tracked(worktree, tmp_path)
    prompt = start_prompt(session, tracker, "edit")
    shell(session, tracker, worktree, prompt, "echo X=1 >> .flaskenv")
    assert logged(session) == {".flaskenv"}
    rollback(session, worktree, conversation=False)
    assert (worktree / ".flaskenv").read_text() == "FLASK_APP=hello\n"
    session.close()


def test_a_submodule_and_a_nested_clone_count_by_their_own_index(tmp_path: Path) -> None:
    lib = flask_like(tmp_path / "lib")
    outer = tmp_path / "outer"
    outer.mkdir()
    git(outer, "init", "-q")
    (outer / ".gitignore").write_text("vendor/\n")
    git(outer, "submodule", "add", "-q", str(lib), "lib")
    git(outer, "add", ".gitignore")
    git(outer, "commit", "-q", "-m", "with a submodule")
    git(outer, "clone", "-q", str(lib), "nested")  # a clone that is no submodule
    found = walk_tree(outer)
    assert {"lib/.flaskenv", "lib/build/keep.txt", "nested/tests/test_apps/.env"} <= set(found)
    assert "lib/cache.pyc" not in found and "lib" in found  # the submodule is a folder, never a file
    session, tracker = open_tracked(outer, tmp_path)
    prompt = start_prompt(session, tracker, "edit")
    shell(session, tracker, outer, prompt, "echo Y=2 >> lib/.flaskenv && echo Z=3 >> nested/.flaskenv")
    assert logged(session) == {"lib/.flaskenv", "nested/.flaskenv"}
    shutil.rmtree(outer / "nested" / ".git")  # no longer a repository: its ignore rules alone decide
    shell(session, tracker, outer, prompt, "echo W=4 >> nested/.flaskenv")
    assert [c.path for c in session.files.all()].count("nested/.flaskenv") == 2  # watched, as once tracked
    session.close()


def test_a_repository_made_during_the_session_counts_from_then_on(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    root.mkdir()
    (root / ".gitignore").write_text(".env\n")
    (root / ".env").write_text("A=1\n")
    walker_seen = set(walk_tree(root))
    assert ".env" not in walker_seen  # no git at all: the ignore rules decide, as before
    session, tracker = open_tracked(root, tmp_path)
    prompt = start_prompt(session, tracker, "init")
    git(root, "init", "-q")
    git(root, "add", "-f", ".env")
    shell(session, tracker, root, prompt, "echo B=2 >> .env")
    assert logged(session) == {".env"}
    session.close()


def test_an_index_change_lists_again_only_the_folders_it_concerns(tmp_path: Path) -> None:
    root = flask_like(tmp_path / "repo")
    (root / "deep" / "er").mkdir(parents=True)
    (root / "deep" / "er" / "local.env").write_text("L=1\n")
    (root / "deep" / "er" / ".gitignore").write_text("*.env\n")
    walker = TreeWalker(root, settle_ns=50_000_000)

    def scan() -> tuple[int, set[str]]:
        time.sleep(0.08)  # every folder settled: a listing is reused unless something says otherwise
        walk = walker.scan({})
        return walk.listed, walk.paths()

    listed, seen = scan()
    assert listed > 3 and "deep/er/local.env" not in seen
    assert scan()[0] == 0
    git(root, "add", "-f", "deep/er/local.env")  # only .git/index changes: no folder of the tree
    listed, seen = scan()
    assert "deep/er/local.env" in seen and listed == 3  # the root, deep and deep/er
    assert scan()[0] == 0
    git(root, "rm", "-q", "--cached", "deep/er/local.env")
    listed, seen = scan()
    assert "deep/er/local.env" not in seen and listed == 3
    (root / "deep" / "er" / "repo").mkdir()
    (root / "deep" / "er" / "repo" / "x.env").write_text("X\n")
    scan()
    git(root / "deep" / "er" / "repo", "init", "-q")
    git(root / "deep" / "er" / "repo", "add", "-f", "x.env")
    assert "deep/er/repo/x.env" in scan()[1]  # a repository made inside the workspace


@pytest.mark.parametrize("shape", ["v2", "v3", "v4", "split", "sha256", "sparse"])
def test_the_index_is_read_as_git_reads_it(tmp_path: Path, shape: str) -> None:
    root = flask_like(tmp_path / "repo", *(["--object-format=sha256"] if shape == "sha256" else []))
    for n in range(40):
        (root / "pkg" / f"d{n % 3}").mkdir(parents=True, exist_ok=True)
        (root / "pkg" / f"d{n % 3}" / f"module_with_a_long_name_{n}.py").write_text(str(n))
    git(root, "add", "pkg")
    git(root, "commit", "-q", "-m", "more")
    if shape == "v3":
        (root / "later.txt").write_text("intent\n")
        git(root, "add", "-N", "later.txt")  # intent-to-add: an extended flag, index version 3
    elif shape == "v4":
        git(root, "update-index", "--index-version", "4")
    elif shape == "split":
        git(root, "update-index", "--split-index")
        git(root, "rm", "-q", "--cached", "pkg/d1/module_with_a_long_name_1.py")
        (root / "added.env").write_text("x\n")
        git(root, "add", "-f", "added.env")
        git(root, "update-index", "--split-index")
        assert any(p.name.startswith("sharedindex.") for p in (root / ".git").iterdir())
    elif shape == "sparse":
        git(root, "sparse-checkout", "set", "--cone", "--sparse-index", "tests")
    data = (root / ".git" / "index").read_bytes()
    version = int.from_bytes(data[4:8], "big")
    assert version == {"v3": 3, "v4": 4}.get(shape, version)
    listed = set(git(root, "ls-files", "-z", *(["--sparse"] if shape == "sparse" else [])).split("\0")) - {""}
    tracked = TrackedIndex(os.fspath(root))
    files = {p for p in listed if not p.endswith("/")}
    assert {p for p in files if tracked.has_file(p)} == files
    assert not tracked.has_file("cache.pyc") and not tracked.has_file("pkg/d1/nothing.py")
    if shape == "split":
        assert not tracked.has_file("pkg/d1/module_with_a_long_name_1.py") and tracked.has_file("added.env")
    if shape == "sparse":
        assert "pkg/" in listed and tracked.holds("pkg")  # a sparse folder entry: tracked below it
        assert b"sdir" in data and not (root / "pkg").exists()
    parsed = parse_index((root / ".git" / "index").read_bytes(), 32 if shape == "sha256" else 20)[0]
    if shape != "split":
        assert {p.decode() for p in parsed} == listed


def test_an_index_that_cannot_be_trusted_tracks_nothing(tmp_path: Path) -> None:
    root = flask_like(tmp_path / "repo")
    index = root / ".git" / "index"
    good = index.read_bytes()
    index.write_bytes(good[:200])  # cut short
    assert ".flaskenv" not in walk_tree(root)
    index.write_bytes(b"DIRC" + (99).to_bytes(4, "big") + good[8:])  # an unknown version
    assert ".flaskenv" not in walk_tree(root)
    index.write_bytes(good)
    assert ".flaskenv" in walk_tree(root)
    if os.geteuid() == 0:  # like git's safe.directory: another user's repository decides nothing
        os.chown(root / ".git", 65534, 65534)
        assert ".flaskenv" not in walk_tree(root)


def test_reading_the_index_runs_nothing_the_repository_names(tmp_path: Path) -> None:
    root = flask_like(tmp_path / "repo")
    ran = tmp_path / "RAN"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch {ran}\necho 0\n")
    hook.chmod(0o755)
    git(root, "config", "core.fsmonitor", str(hook))  # git ls-files would run it
    assert ".flaskenv" in walk_tree(root)
    assert not ran.exists()


def test_the_file_tools_list_and_search_what_git_tracks(tmp_path: Path) -> None:
    root = flask_like(tmp_path / "repo")
    ws = Workspace(root)
    listed = sorted(ws.relative(p) for p in walk_files(ws))
    assert listed == [".flaskenv", ".gitignore", "app.py", "build/keep.txt", "tests/test_apps/.env"]
    assert [ws.relative(p) for p in walk_files(ws, root / "tests" / "test_apps")] == ["tests/test_apps/.env"]


@pytest.mark.slow
def test_a_new_user_on_a_flask_like_clone_sees_diffs_rollback_and_undo(tmp_path: Path, openai_server,
                                                                        env: dict[str, str]) -> None:
    """Issue 26's "done when", end to end: the agent's changes to tracked ignored files are
    in ``diff`` and ``checkpoints``, rollback and --undo restore them byte for byte, exit 0."""
    from agent_harness import agentcli
    from openai_answers import text_answer, tool_answer, tool_call

    root = flask_like(tmp_path / "flask")
    before = tree(root)
    openai_server.script(
        tool_answer(tool_call("run_shell", {"command": "echo FLASK_DEBUG=1 >> .flaskenv && echo BAR=2 "
                                                       ">> tests/test_apps/.env && echo j >> cache.pyc"})),
        tool_answer(tool_call("write_file", {"path": "tests/test_apps/.env", "content": "REPLACED=1\n"})),
        text_answer("done"),
    )
    run = agentcli(["new", "turn on debugging", "-p", "--base-url", openai_server.base_url,
                    "--approval", "full-auto"], env=env, cwd=root)
    assert run.code == 0, run.stderr
    after = tree(root)
    assert after[".flaskenv"][0] == b"FLASK_APP=hello\nFLASK_DEBUG=1\n"

    def cli(*args: str):
        done = agentcli(list(args), env=env, cwd=root)
        assert done.code == 0, done.stderr
        return done

    diff = cli("diff", "last").stdout
    assert "+FLASK_DEBUG=1" in diff and "+REPLACED=1" in diff and "cache.pyc" not in diff
    listed = json.loads(cli("checkpoints", "last", "--json").stdout)["checkpoints"]
    assert listed[0]["file_count"] == 5  # .gitignore, app.py and the three tracked ignored files
    cli("rollback", "last")
    now = tree(root)
    agentcli_own = {k for k in now if k.startswith(".agentcli/")}
    assert {k: v for k, v in now.items() if k != "cache.pyc" and k not in agentcli_own} == {
        k: v for k, v in before.items() if k != "cache.pyc"}
    cli("rollback", "last", "--undo")
    assert tree(root) == after
