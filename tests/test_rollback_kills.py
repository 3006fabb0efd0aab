"""A SIGKILL in the middle of an atomic write leaves no temporary file of agentcli's behind.

``write_file``, ``edit_file`` and rollback write through ``write_atomic``: the bytes go to
``.NAME.<hex>.agentcli-tmp`` beside the file, then a rename puts them in place. The
failpoint ``write.staged`` kills the process between the two. Afterwards — a resume, or
another rollback — no ``*.agentcli-tmp`` is left in the tree, each file holds one of its
two whole versions, and the file log agrees with the disk.
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path

import pytest
from agent_harness import agentcli, agentcli_process, rows, session_file
from openai_answers import text_answer, tool_answer, tool_call
from test_rollback import shell, start_prompt

from agentcli.agent.history.tracker import Tracker
from agentcli.agent.workspace.jail import temporary_name
from agentcli.session.session import Session

pytestmark = pytest.mark.slow


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    for name in ("a.txt", "b.txt", "notes.txt"):
        (root / name).write_text(f"{name} as it was\n")
    return root


def args(server, *extra: str) -> list[str]:
    return ["-p", "--base-url", server.base_url, "--approval", "full-auto", *extra]


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*.agentcli-tmp"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_log_agrees_with_disk(root: Path, sid: str) -> None:
    """The last applied change of every logged path shows what the disk holds; nothing intended."""
    db = session_file(root, sid)
    assert rows(db, "SELECT count(*) AS n FROM file_changes WHERE status = 'intended'")[0]["n"] == 0
    last = {r["path"]: r for r in rows(db, "SELECT path, after_hash FROM file_changes "
                                           "WHERE status = 'applied' ORDER BY id")}
    for path, row in last.items():
        on_disk = digest(root / path) if (root / path).exists() else None
        assert on_disk == row["after_hash"], path


@pytest.mark.parametrize("call", [
    tool_call("write_file", {"path": "notes.txt", "content": "notes, rewritten\n"}),
    tool_call("edit_file", {"path": "notes.txt", "old_string": "as it was", "new_string": "edited"}),
])
def test_a_file_tool_killed_at_its_write_is_finished_by_resume(openai_server, workspace, env, call) -> None:
    openai_server.script(tool_answer(call), text_answer("done"))
    killed = agentcli_process(["new", "change the notes", *args(openai_server)], cwd=workspace,
                              env={**env, "AGENTCLI_FAILPOINTS": "write.staged:1"})
    assert killed.code == -signal.SIGKILL, killed.stderr
    assert len(leftovers(workspace)) == 1  # what the kill leaves: the staged bytes beside the file
    assert (workspace / "notes.txt").read_text() == "notes.txt as it was\n"
    sid = killed.session_id

    resumed = agentcli(["resume", sid, *args(openai_server)], env=env, cwd=workspace)
    assert resumed.code == 0, resumed.stderr
    assert leftovers(workspace) == []
    assert (workspace / "notes.txt").read_text() in ("notes, rewritten\n", "notes.txt edited\n")
    assert_log_agrees_with_disk(workspace, sid)
    db = session_file(workspace, sid)
    assert [r["path"] for r in rows(db, "SELECT path FROM file_changes")] == ["notes.txt"]  # no tmp logged


def changed_session(server, root: Path, env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """One prompt that changes a.txt and b.txt by shell and notes.txt by write_file."""
    before = {p.name: p.read_text() for p in root.iterdir() if p.is_file()}
    server.script(
        tool_answer(tool_call("run_shell", {"command": "echo more >> a.txt && echo more >> b.txt"})),
        tool_answer(tool_call("write_file", {"path": "notes.txt", "content": "new notes\n"})),
        text_answer("changed"),
    )
    run = agentcli(["new", "change things", *args(server)], env=env, cwd=root)
    assert run.code == 0, run.stderr
    return run.session_id, before


@pytest.mark.parametrize("then", ["resume", "rollback"])
def test_a_rollback_killed_at_a_write_is_cleared_by_resume_or_another_rollback(openai_server, workspace,
                                                                               env, then) -> None:
    sid, before = changed_session(openai_server, workspace, env)
    killed = agentcli_process(["rollback", sid], cwd=workspace,
                              env={**env, "AGENTCLI_FAILPOINTS": "write.staged:2"})
    assert killed.code == -signal.SIGKILL, killed.stderr
    assert leftovers(workspace) == [leftovers(workspace)[0]] and ".b.txt." in leftovers(workspace)[0]
    assert (workspace / "a.txt").read_text() == before["a.txt"]  # restored before the kill
    assert (workspace / "b.txt").read_text() == before["b.txt"] + "more\n"  # the old whole version

    if then == "resume":
        openai_server.script(text_answer("ok"))
        run = agentcli(["resume", sid, "anything else?", *args(openai_server)], env=env, cwd=workspace)
        assert run.code == 0, run.stderr
        assert leftovers(workspace) == []
        db = session_file(workspace, sid)
        assert [r["status"] for r in rows(db, "SELECT status FROM rollbacks")] == ["interrupted"]
        assert_log_agrees_with_disk(workspace, sid)
    again = agentcli(["rollback", sid, "--to", "1"], env=env, cwd=workspace)
    assert again.code == 0, again.stderr
    assert leftovers(workspace) == []
    assert {p.name: p.read_text() for p in workspace.iterdir() if p.is_file()} == before
    assert_log_agrees_with_disk(workspace, sid)


def test_a_temporary_file_found_in_the_tree_is_never_logged(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.py").write_text("x = 1\n")
    session = Session.create(tmp_path / "s" / "0123456789abc.sqlite", workspace_root=root)
    tracker = Tracker(session, root)
    prompt = start_prompt(session, tracker, "go")
    stray = temporary_name("app.py")
    shell(session, tracker, root, prompt, f"echo half > {stray}; echo x=2 > app.py; echo u > .u.agentcli-tmp")
    # Only names of agentcli's own pattern are left out: ".u.agentcli-tmp" is the user's.
    assert sorted(c.path for c in session.files.all()) == [".u.agentcli-tmp", "app.py"]
    assert os.path.exists(root / stray)  # someone else's (another session's): left alone, never logged
    session.close()
