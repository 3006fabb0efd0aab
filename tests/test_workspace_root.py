"""Where agentcli keeps its state: the git work tree's root, in ``.agentcli/``, out of ``git status``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from agent_harness import agentcli, rows, session_file, sessions_folder
from openai_answers import text_answer, tool_answer, tool_call
from session_factory import make_session

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True).stdout


@pytest.fixture
def django_repo(tmp_path: Path) -> Path:
    """A committed repository whose own code lives in ``sessions/`` (a Django app)."""
    root = tmp_path / "shop"
    (root / "sessions").mkdir(parents=True)
    (root / "sessions" / "models.py").write_text("class Session:\n    key = 'shop'\n")
    (root / "shop" / "views").mkdir(parents=True)
    (root / "AGENTS.md").write_text("Root rule: use tabs.\n")
    (root / "shop" / "AGENTS.md").write_text("Shop rule: no globals.\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "start")
    return root.resolve()


def test_the_agent_reads_a_projects_own_sessions_package_and_git_status_stays_clean(
        openai_server, django_repo, env):
    openai_server.script(tool_answer(tool_call("read_file", {"path": "sessions/models.py"})),
                         text_answer("it keeps the shop's key"))
    run = agentcli(["new", "what is in sessions/?", "-p", "--base-url", openai_server.base_url],
                   env=env, cwd=django_repo)
    assert run.code == 0, run.stderr
    result = [m for m in openai_server.requests[1].body["messages"] if m["role"] == "tool"][-1]
    assert "key = 'shop'" in result["content"] and "protected" not in result["content"]
    assert git(django_repo, "status", "--porcelain", "--untracked-files=all") == ""
    assert session_file(django_repo, run.session_id).is_file()
    assert (django_repo / ".agentcli" / ".gitignore").read_text() == "*\n"


def test_from_a_subdirectory_the_session_lands_at_the_root_with_every_agents_md(
        openai_server, django_repo, env):
    openai_server.script(text_answer("ok"))
    below = django_repo / "shop" / "views"
    run = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url], env=env, cwd=below)
    assert run.code == 0, run.stderr
    assert session_file(django_repo, run.session_id).is_file()
    assert not (below / ".agentcli").exists() and not (below / "sessions").exists()
    system = openai_server.requests[0].body["messages"][0]["content"]
    assert system.index("Root rule: use tabs.") < system.index("Shop rule: no globals.")
    assert f"Workspace root: {django_repo}" in system
    listed = agentcli(["list"], env=env, cwd=below)
    assert run.session_id in listed.stdout


def test_a_user_folder_named_sessions_stays_writable_to_the_agent(openai_server, django_repo, env):
    openai_server.script(
        tool_answer(tool_call("write_file", {"path": "sessions/admin.py", "content": "# admin\n"})),
        text_answer("done"))
    run = agentcli(["new", "add admin", "-p", "--approval", "full-auto", "--base-url",
                    openai_server.base_url], env=env, cwd=django_repo)
    assert run.code == 0, run.stderr
    assert (django_repo / "sessions" / "admin.py").read_text() == "# admin\n"
    changes = rows(session_file(django_repo, run.session_id), "SELECT path FROM file_changes")
    assert [c["path"] for c in changes] == ["sessions/admin.py"]


def test_minus_c_and_sessions_dir_still_override(openai_server, django_repo, tmp_path, env):
    openai_server.script(text_answer("ok"), text_answer("ok"))
    other = tmp_path / "other"
    other.mkdir()
    run = agentcli(["new", "hi", "-p", "-C", str(other), "--base-url", openai_server.base_url],
                   env=env, cwd=django_repo / "shop")
    assert run.code == 0, run.stderr
    assert session_file(other, run.session_id).is_file()
    mine = tmp_path / "mine"
    run = agentcli(["new", "hi", "-p", "--sessions-dir", str(mine), "--base-url", openai_server.base_url],
                   env=env, cwd=django_repo)
    assert run.code == 0 and (mine / f"{run.session_id}.sqlite").is_file()


def test_sessions_in_the_old_folder_are_listed_resumed_and_moved(openai_server, workspace, env):
    old = make_session(workspace / "sessions", workspace, title="from before")
    (workspace / "sessions" / "views.py").write_text("# a project file, not a session\n")
    listed = agentcli(["list"], env=env, cwd=workspace)
    assert listed.code == 0 and old.stem in listed.stdout and "move-sessions" in listed.stderr
    shown = agentcli(["show", old.stem[:6]], env=env, cwd=workspace)
    assert shown.code == 0 and "from before" in shown.stdout

    moved = agentcli(["move-sessions"], env=env, cwd=workspace)
    assert moved.code == 0 and "moved 1 of 1" in moved.stdout, moved.stderr
    assert not old.exists() and (sessions_folder(workspace) / old.name).is_file()
    assert (workspace / "sessions" / "views.py").exists()
    again = agentcli(["list"], env=env, cwd=workspace)
    assert old.stem in again.stdout and "move-sessions" not in again.stderr


def _another_file_system(near: Path) -> Path | None:
    """A scratch folder on another file system than ``near``, or None."""
    import os
    import tempfile

    for candidate in ("/tmp", "/var/tmp", "/dev/shm", str(Path.home())):
        try:
            if os.stat(candidate).st_dev != os.stat(near).st_dev and os.access(candidate, os.W_OK):
                return Path(tempfile.mkdtemp(dir=candidate, prefix="agentcli-move-"))
        except OSError:
            continue
    return None


def test_move_sessions_across_file_systems_moves_each_file_whole(workspace, env):
    """Issue 20, minor: the old folder on another file system (here a link to one) was an
    internal error (os.replace across devices); now each file is copied, fsynced, removed."""
    import sys

    far = _another_file_system(workspace)
    if far is None:
        pytest.skip("one file system only")
    try:
        old = make_session(far, workspace, title="kept far away")
        writer = ("import os, sqlite3, sys\nconn = sqlite3.connect(sys.argv[1])\n"
                  "conn.execute(\"UPDATE meta SET title = 'changed in the log'\")\nconn.commit()\n"
                  "os._exit(0)\n")  # gone without closing: the write is still in the -wal
        subprocess.run([sys.executable, "-c", writer, str(old)], check=True)
        assert old.with_name(old.name + "-wal").stat().st_size > 0
        (workspace / "sessions").symlink_to(far)
        moved = agentcli(["move-sessions"], env=env, cwd=workspace)
        assert moved.code == 0 and "moved 1 of 1" in moved.stdout, moved.stderr
        target = sessions_folder(workspace) / old.name
        assert not old.exists() and target.is_file()
        assert rows(target, "SELECT title FROM meta")[0]["title"] == "changed in the log"
        assert sorted(p.name for p in far.iterdir()) == []
        shown = agentcli(["show", old.stem], env=env, cwd=workspace)
        assert shown.code == 0 and "changed in the log" in shown.stdout
    finally:
        shutil.rmtree(far, ignore_errors=True)


def test_move_sessions_leaves_session_files_the_repository_tracks(django_repo, env):
    old = make_session(django_repo / "sessions", django_repo, title="committed by someone")
    old.with_name(old.name + ".lock").unlink(missing_ok=True)
    git(django_repo, "add", "-f", f"sessions/{old.name}")
    git(django_repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "a session")
    moved = agentcli(["move-sessions"], env=env, cwd=django_repo)
    assert moved.code == 0 and "moved 0 of 1" in moved.stdout and "tracked by git" in moved.stdout
    assert old.is_file() and not (sessions_folder(django_repo) / old.name).exists()
