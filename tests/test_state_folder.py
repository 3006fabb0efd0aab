"""agentcli's state folder is its own, and nothing of another user's takes control (issue 20,
critical 4 and 6).

A cloned repository's ``.agentcli/`` (tracked, a ``!*`` ``.gitignore``, a ``history`` or
``sessions`` symlink, loose modes), a neighbour's ``/tmp/.git`` above the workspace, a
sessions folder or session file of another user or writable by others: each is refused
with one line (exit 2) or put right, as ``session/state_folder.py`` tabulates. Files of
another user are made with ``os.chown`` (the tests run as root).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from agent_harness import agentcli, session_file, sessions_folder
from openai_answers import text_answer
from session_factory import make_session

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="making files of another user needs root")
NEIGHBOUR = 4242  # a uid that is not the test's


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                          check=True, capture_output=True, text=True).stdout


def one_line(run, code: int = 2) -> str:
    assert run.code == code, run.stderr
    assert run.stderr.startswith("agentcli: ") and run.stderr.count("\n") == 1, run.stderr
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr
    return run.stderr


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "cloned"
    root.mkdir()
    (root / "app.py").write_text("print('hi')\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "start")
    return root.resolve()


def new_run(openai_server, root: Path, env, *extra: str, cwd: Path | None = None):
    openai_server.script(text_answer("ok"))
    return agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url, *extra], env=env,
                    cwd=cwd or root)


# -- critical 4: a cloned repository's own .agentcli/ -------------------------------------------------


@needs_git
def test_a_state_folder_that_came_with_the_repository_is_refused(openai_server, repo, env) -> None:
    (repo / ".agentcli").mkdir()
    (repo / ".agentcli" / ".gitignore").write_text("!*\n")  # makes every session file committable
    git(repo, "add", "-f", ".agentcli/.gitignore")
    git(repo, "commit", "-qm", "ship a state folder")
    run = new_run(openai_server, repo, env)
    line = one_line(run)
    assert "is tracked by git (.agentcli/.gitignore)" in line and "git rm -r --cached .agentcli" in line
    assert not (repo / ".agentcli" / "sessions").exists() and openai_server.requests == []
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert "tracked by git" in one_line(agentcli(["list"], env=env, cwd=repo))


@needs_git
def test_a_state_folder_added_to_git_later_is_refused_from_then_on(openai_server, repo, env) -> None:
    assert new_run(openai_server, repo, env).code == 0  # the index was seen not to track it
    assert agentcli(["list"], env=env, cwd=repo).code == 0
    git(repo, "add", "-f", ".agentcli/.gitignore")
    assert "is tracked by git (.agentcli/.gitignore)" in one_line(agentcli(["list"], env=env, cwd=repo))
    git(repo, "rm", "-q", "--cached", ".agentcli/.gitignore")
    assert agentcli(["list"], env=env, cwd=repo).code == 0


@needs_git
def test_an_untracked_gitignore_that_lets_sessions_through_is_rewritten(openai_server, repo, env) -> None:
    (repo / ".agentcli").mkdir()
    (repo / ".agentcli" / ".gitignore").write_text("!*\n")
    run = new_run(openai_server, repo, env)
    assert run.code == 0, run.stderr
    assert (repo / ".agentcli" / ".gitignore").read_text() == "*\n"
    assert session_file(repo, run.session_id).is_file()
    assert git(repo, "status", "--porcelain", "--untracked-files=all") == ""


def test_a_gitignore_that_is_a_link_is_replaced_not_written_through(openai_server, repo, env,
                                                                   tmp_path) -> None:
    target = tmp_path / "somebody-elses.txt"
    target.write_text("theirs\n")
    (repo / ".agentcli").mkdir()
    (repo / ".agentcli" / ".gitignore").symlink_to(target)
    run = new_run(openai_server, repo, env)
    assert run.code == 0, run.stderr
    ignore = repo / ".agentcli" / ".gitignore"
    assert not ignore.is_symlink() and ignore.read_text() == "*\n"
    assert target.read_text() == "theirs\n"


def test_a_history_link_is_replaced_and_typed_prompts_stay_home(repo, env, tmp_path) -> None:
    from agentcli.cli.terminal.inputs import open_history

    outside = tmp_path / "collected.txt"
    outside.write_text("")
    (repo / ".agentcli").mkdir()
    (repo / ".agentcli" / "history").symlink_to(outside)
    listed = agentcli(["list"], env=env, cwd=repo)
    assert listed.code == 0, listed.stderr
    assert "history was a symbolic link; it is replaced by a new, empty input history" in listed.stderr
    assert not (repo / ".agentcli" / "history").is_symlink()
    (repo / ".agentcli" / "history").symlink_to(outside)  # again, for the terminal's own open
    history = open_history(repo)
    history.store_string("my secret plan")
    assert outside.read_text() == ""
    assert "my secret plan" in (repo / ".agentcli" / "history").read_text()
    assert not (repo / ".agentcli" / "history").is_symlink()
    assert list(history.load_history_strings()) == ["my secret plan"]


def test_a_sessions_link_is_refused_and_nothing_lands_where_it_points(openai_server, repo, env,
                                                                     tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / ".agentcli").mkdir()
    (repo / ".agentcli" / "sessions").symlink_to(elsewhere)
    line = one_line(new_run(openai_server, repo, env))
    assert "sessions is a symbolic link" in line and "--sessions-dir" in line
    assert list(elsewhere.iterdir()) == [] and openai_server.requests == []


def test_a_state_folder_that_is_a_link_is_refused(openai_server, repo, env, tmp_path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / ".agentcli").symlink_to(elsewhere)
    assert ".agentcli is a symbolic link" in one_line(new_run(openai_server, repo, env))
    assert list(elsewhere.iterdir()) == []


def test_loose_modes_are_made_private(openai_server, repo, env) -> None:
    (repo / ".agentcli" / "sessions").mkdir(parents=True)
    os.chmod(repo / ".agentcli", 0o777)
    os.chmod(repo / ".agentcli" / "sessions", 0o775)
    run = new_run(openai_server, repo, env)
    assert run.code == 0, run.stderr
    assert stat.S_IMODE(os.stat(repo / ".agentcli").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(repo / ".agentcli" / "sessions").st_mode) == 0o700


@needs_root
def test_a_loose_state_folder_holding_a_neighbours_file_is_refused(openai_server, repo, env) -> None:
    (repo / ".agentcli").mkdir()
    os.chmod(repo / ".agentcli", 0o777)
    planted = repo / ".agentcli" / "sessions"
    planted.mkdir()
    os.chown(planted, NEIGHBOUR, NEIGHBOUR)
    line = one_line(new_run(openai_server, repo, env))
    assert "was writable by other users and sessions in it belongs to another user" in line


# -- critical 6: nothing of another user's -----------------------------------------------------------


@needs_root
def test_a_neighbours_git_above_is_not_the_workspace_root(openai_server, tmp_path, env) -> None:
    shared = tmp_path / "tmp"  # /tmp, where a neighbour ran git init
    (shared / ".git").mkdir(parents=True)
    os.chown(shared / ".git", NEIGHBOUR, NEIGHBOUR)
    mine = shared / "mine"
    mine.mkdir()
    run = new_run(openai_server, mine, env)
    assert run.code == 0, run.stderr
    session_id = next(line for line in run.stderr.splitlines() if line.startswith("agentcli: session "))
    assert session_file(mine.resolve(), session_id.split()[-1]).is_file()
    assert not (shared / ".agentcli").exists()
    assert "belongs to another user, so its folder is not taken as the workspace root" in run.stderr
    system = openai_server.requests[0].body["messages"][0]["content"]
    assert f"Workspace root: {mine.resolve()}" in system


@needs_root
def test_a_state_folder_of_another_user_is_refused(openai_server, repo, env) -> None:
    (repo / ".agentcli").mkdir(mode=0o700)
    os.chown(repo / ".agentcli", NEIGHBOUR, NEIGHBOUR)
    line = one_line(new_run(openai_server, repo, env))
    assert f".agentcli belongs to another user (uid {NEIGHBOUR})" in line


@needs_root
@pytest.mark.parametrize("how", ["another-user", "world-writable", "group-writable"])
def test_a_sessions_dir_that_is_not_yours_alone_is_refused(openai_server, repo, env, tmp_path, how) -> None:
    folder = tmp_path / "shared-sessions"
    folder.mkdir(mode=0o700)
    if how == "another-user":
        os.chown(folder, NEIGHBOUR, NEIGHBOUR)
    else:
        os.chmod(folder, 0o777 if how == "world-writable" else 0o770)
    line = one_line(new_run(openai_server, repo, env, "--sessions-dir", str(folder)))
    assert f"the sessions folder {folder}" in line
    assert list(folder.iterdir()) == [] and openai_server.requests == []
    env = {**env, "AGENTCLI_SESSIONS_DIR": str(folder)}
    assert "the sessions folder" in one_line(agentcli(["list"], env=env, cwd=repo))


@pytest.fixture
def own_session(repo: Path) -> Path:
    path = make_session(sessions_folder(repo), repo)
    path.with_name(path.name + ".lock").unlink(missing_ok=True)
    return path


def _files_beside(path: Path) -> list[str]:
    return sorted(os.listdir(path.parent))


@needs_root
@pytest.mark.parametrize("how", ["another-user", "world-writable"])
def test_a_session_file_that_is_not_yours_alone_is_read_but_never_driven(own_session, repo, env,
                                                                        how) -> None:
    if how == "another-user":
        os.chown(own_session, NEIGHBOUR, NEIGHBOUR)
    else:
        os.chmod(own_session, 0o666)
    before = (own_session.read_bytes(), _files_beside(own_session))
    run = agentcli(["resume", own_session.stem, "go on", "--base-url", "http://127.0.0.1:9"], env=env,
                   cwd=repo)
    line = one_line(run)
    assert ("belongs to another user" if how == "another-user" else "is writable by other users") in line
    shown = agentcli(["show", own_session.stem], env=env, cwd=repo)
    assert shown.code == 0, shown.stderr
    assert "fix the failing test" in shown.stdout
    assert (own_session.read_bytes(), _files_beside(own_session)) == before


@needs_root
def test_a_session_file_in_a_folder_others_can_write_is_never_driven(own_session, repo, env,
                                                                    tmp_path) -> None:
    shared = tmp_path / "drop"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp: anyone may plant a -wal link beside the file
    given = shared / own_session.name
    shutil.copy(own_session, given)
    line = one_line(agentcli(["resume", str(given), "go on", "--base-url", "http://127.0.0.1:9"], env=env,
                             cwd=repo))
    assert f"is in a folder other users can write ({shared})" in line
    assert sorted(os.listdir(shared)) == [given.name]
