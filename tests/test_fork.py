"""``agentcli fork`` and ``/fork`` (issue 24, SPEC §5b): a new session holding the conversation
up to checkpoint N, linked to its parent; with ``--worktree`` a git worktree holding the
files of checkpoint N. The parent is never written; the fork resumes and rolls back on its
own, without touching the original workspace."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from agent_harness import agentcli, rows, session_file, sessions_folder
from openai_answers import text_answer, tool_answer, tool_call

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A git repository with one committed file (and one the user never committed)."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "big.bin").write_bytes(bytes(range(256)) * 40)
    git(root, "add", "calc.py", "big.bin")
    git(root, "commit", "-q", "-m", "init")
    (root / "notes.md").write_text("the user's own notes, never committed\n")
    return root.resolve()


def _edit(old: str, new: str) -> object:
    return tool_answer(tool_call("edit_file", {"path": "calc.py", "old_string": old, "new_string": new}))


def _three_prompts(server, workspace: Path, env: dict[str, str]) -> str:
    """A session of three prompts: 1 fixes calc.py, 2 writes todo.txt and deletes big.bin,
    3 rewrites calc.py again. Returns its id."""
    base = ["--base-url", server.base_url, "--approval", "full-auto", "--sandbox", "off"]
    server.script(_edit("a - b", "a + b"), text_answer("fixed add"))
    first = agentcli(["new", "fix add", "-p", *base], env=env, cwd=workspace)
    assert first.code == 0, first.stderr
    server.script(tool_answer(tool_call("write_file", {"path": "todo.txt", "content": "step two\n"}),
                              tool_call("run_shell", {"command": "rm big.bin"})),
                  text_answer("wrote the todo"))
    assert agentcli(["resume", "last", "write a todo", "-p", *base], env=env, cwd=workspace).code == 0
    server.script(_edit("a + b", "b + a"), text_answer("swapped"))
    assert agentcli(["resume", "last", "swap them", "-p", *base], env=env, cwd=workspace).code == 0
    return first.session_id


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] not in (".git", ".agentcli")}


def test_a_fork_at_a_checkpoint_with_a_worktree(openai_server, workspace, env, tmp_path):
    parent_id = _three_prompts(openai_server, workspace, env)
    parent = session_file(workspace, parent_id)
    before, original = _digest(parent), _tree(workspace)
    target = tmp_path / "try-2"
    run = agentcli(["fork", parent_id, "--at", "2", "--worktree", str(target), "--json"], env=env,
                   cwd=workspace)
    assert run.code == 0, run.stderr
    made = json.loads(run.stdout)
    assert made["forked_from"] == parent_id and made["forked_at"] == 2
    assert made["workspace_root"] == str(target.resolve())

    # the parent: not one byte written, nothing left beside it
    assert _digest(parent) == before
    assert sorted(p.name for p in parent.parent.iterdir()) == [".gitignore", parent.name]
    # the worktree holds the files of checkpoint 2: prompt 1's fix, not prompt 2's changes;
    # the user's uncommitted notes were part of the workspace then, and come along
    assert _tree(target) == {"calc.py": b"def add(a, b):\n    return a + b\n",
                             "big.bin": bytes(range(256)) * 40,
                             "notes.md": b"the user's own notes, never committed\n"}
    assert _tree(workspace) == original  # the original workspace is untouched

    # the conversation is cut right before prompt 2
    fork_db = Path(made["path"])
    assert fork_db.parent == target.resolve() / ".agentcli" / "sessions"
    users = [r["content"] for r in rows(fork_db, "SELECT content FROM messages WHERE role = 'user'")]
    assert users == ["fix add"]
    last = rows(fork_db, "SELECT role, content FROM messages ORDER BY id DESC LIMIT 1")[0]
    assert last == {"role": "assistant", "content": "fixed add"}
    assert [r["id"] for r in rows(fork_db, "SELECT id FROM checkpoints")] == [1]
    meta = rows(fork_db, "SELECT id, forked_from, forked_at, status, workspace_root FROM meta")[0]
    assert meta == {"id": made["session"], "forked_from": parent_id, "forked_at": 2, "status": "idle",
                    "workspace_root": str(target.resolve())}

    # list and show name the parent
    listed = agentcli(["list", "-C", str(target)], env=env, cwd=workspace)
    assert f"{parent_id}@2" in listed.stdout and "FORKED FROM" in listed.stdout
    assert json.loads(agentcli(["list", "--json", "-C", str(target)], env=env, cwd=workspace).stdout)[0][
        "forked_from"] == {"session": parent_id, "checkpoint": 2}
    shown = agentcli(["show", made["session"], "-C", str(target)], env=env, cwd=workspace)
    assert f"forked from {parent_id} at checkpoint 2" in shown.stdout

    # the fork goes on, in its worktree: it sends the conversation before prompt 2
    openai_server.script(tool_answer(tool_call("write_file", {"path": "fork.txt", "content": "mine\n"})),
                         text_answer("wrote fork.txt"))
    go = agentcli(["resume", made["session"], "another way", "-p", "--approval", "auto-edit", "-C",
                   str(target), "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert go.code == 0, go.stderr
    sent = [m["content"] for m in openai_server.requests[-2].body["messages"] if m["role"] == "user"]
    assert sent == ["fix add", "another way"]
    assert (target / "fork.txt").read_text() == "mine\n" and not (workspace / "fork.txt").exists()

    # and rolls back on its own, to its first checkpoint: the files of before prompt 1
    back = agentcli(["rollback", made["session"], "--to", "1", "-C", str(target)], env=env, cwd=workspace)
    assert back.code == 0, back.stderr
    assert (target / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"
    assert not (target / "fork.txt").exists()
    assert _tree(workspace) == original and _digest(parent) == before


def test_a_whole_fork_stays_in_the_workspace_and_carries_everything(openai_server, workspace, env):
    parent_id = _three_prompts(openai_server, workspace, env)
    parent = session_file(workspace, parent_id)
    run = agentcli(["fork", parent_id], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    fork_id = run.stdout.split()[2]
    fork = session_file(workspace, fork_id)
    assert "go on with: agentcli resume " + fork_id in run.stdout
    query = "SELECT role, content, tool_calls FROM messages ORDER BY id"
    assert rows(fork, query) == rows(parent, query)
    assert len(rows(fork, "SELECT id FROM checkpoints")) == 3
    listed = agentcli(["list"], env=env, cwd=workspace).stdout
    assert parent_id in listed and fork_id in listed and parent_id in listed.split(fork_id, 1)[1]
    # rollback of the fork to 3 undoes prompt 3 in the shared workspace, and the parent is as it was
    back = agentcli(["rollback", fork_id], env=env, cwd=workspace)
    assert back.code == 0, back.stderr
    assert (workspace / "calc.py").read_text().endswith("a + b\n")
    assert rows(parent, "SELECT count(*) AS n FROM rollbacks") == [{"n": 0}]


def test_a_bad_checkpoint_or_a_folder_that_is_taken_leaves_nothing(openai_server, workspace, env, tmp_path):
    parent_id = _three_prompts(openai_server, workspace, env)
    before = sorted(p.name for p in sessions_folder(workspace).iterdir())
    target = tmp_path / "nowhere"
    bad = agentcli(["fork", parent_id, "--at", "9", "--worktree", str(target)], env=env, cwd=workspace)
    assert bad.code == 2 and bad.stderr.count("\n") == 1 and "no checkpoint 9" in bad.stderr, bad.stderr
    assert not target.exists() and "nowhere" not in git(workspace, "worktree", "list")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("mine")
    busy = agentcli(["fork", parent_id, "--worktree", str(taken)], env=env, cwd=workspace)
    assert busy.code == 2 and "already exists" in busy.stderr
    assert (taken / "x").read_text() == "mine"
    assert sorted(p.name for p in sessions_folder(workspace).iterdir()) == before


def test_a_worktree_needs_a_repository(openai_server, tmp_path, env):
    plain = tmp_path / "plain"
    plain.mkdir()
    openai_server.script(text_answer("hello"))
    first = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url], env=env, cwd=plain)
    assert first.code == 0
    run = agentcli(["fork", "last", "--worktree", str(tmp_path / "w")], env=env, cwd=plain)
    assert run.code == 2 and "is in no git repository" in run.stderr
    assert len(list(sessions_folder(plain).glob("*.sqlite"))) == 1


def test_a_fork_of_a_file_from_elsewhere_stays_untrusted(openai_server, workspace, env, tmp_path):
    openai_server.script(text_answer("hello"))
    first = agentcli(["new", "hi", "-p", "--approval", "full-auto", "--sandbox", "off", "--base-url",
                      openai_server.base_url], env=env, cwd=workspace)
    elsewhere = tmp_path / "downloads" / "found.sqlite"
    elsewhere.parent.mkdir()
    shutil.copyfile(session_file(workspace, first.session_id), elsewhere)
    run = agentcli(["fork", str(elsewhere), "--json"], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    fork = Path(json.loads(run.stdout)["path"])
    assert fork.parent == sessions_folder(workspace)  # in the user's own folder...
    assert rows(fork, "SELECT untrusted_origin FROM meta")[0]["untrusted_origin"] == str(elsewhere.resolve())
    openai_server.script(text_answer("again"))
    go = agentcli(["resume", fork.stem, "go on", "-p", "--base-url", openai_server.base_url], env=env,
                  cwd=workspace)
    assert go.code == 0, go.stderr
    assert "ignoring approval, sandbox" in go.stderr and "fork of a session file from elsewhere" in go.stderr
    conn = sqlite3.connect(elsewhere)
    assert conn.execute("SELECT count(*) FROM prompts").fetchone() == (1,)
    conn.close()


def test_a_busy_session_can_be_forked_and_stays_its_holders(openai_server, workspace, env):
    from session_factory import writer_process

    parent_id = _three_prompts(openai_server, workspace, env)
    parent = session_file(workspace, parent_id)
    with writer_process(parent):
        run = agentcli(["fork", parent_id, "--at", "3"], env=env, cwd=workspace)
        assert run.code == 0, run.stderr
        assert parent.with_name(parent.name + ".lock").exists()
        listed = json.loads(agentcli(["list", "--json"], env=env, cwd=workspace).stdout)
    assert {e["id"]: e["status"] for e in listed}[parent_id] == "running"
    fork_id = run.stdout.split()[2]
    users = [r["content"] for r in rows(session_file(workspace, fork_id),
                                        "SELECT content FROM messages WHERE role = 'user' ORDER BY id")]
    assert users == ["fix add", "write a todo"]


def test_slash_fork_in_the_terminal_goes_on_in_the_fork(openai_server, workspace, tmp_path, monkeypatch):
    from terminal_harness import TerminalHarness

    config = tmp_path / "tconfig"
    (config / "agentcli").mkdir(parents=True)
    (config / "agentcli" / "config.toml").write_text("retry_max_wait = 0.01\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    openai_server.script(text_answer("one"), text_answer("two"), text_answer("three"))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("/fork\r")
        term.expect("/fork: no session yet")
        term.type("first\r")
        term.expect("one")
        term.type("second\r")
        term.expect("two")
        parent = term.session
        term.type("/fork 9\r")
        term.expect("no checkpoint 9")
        term.type("/fork 2\r")
        screen = term.expect("the original resumes with")
        fork = term.session
        assert f"now in the fork {fork.id}: the conversation before prompt 2" in screen
        assert fork.id != parent.id and f"agentcli resume {parent.id}" in screen.split("now in the fork")[-1]
        term.type("other second\r")
        term.expect("three")
        term.type("/exit\r")
        term.finish()
    sent = [m["content"] for m in openai_server.requests[-1].body["messages"] if m["role"] == "user"]
    assert sent == ["first", "other second"]
    parent_db = session_file(workspace, parent.id)
    assert [r["text"] for r in rows(parent_db, "SELECT text FROM prompts ORDER BY id")] == ["first", "second"]
    meta = rows(session_file(workspace, fork.id), "SELECT forked_from, forked_at FROM meta")[0]
    assert meta == {"forked_from": parent.id, "forked_at": 2}
    assert f"agentcli resume {fork.id}" in term.screen


def test_a_fork_of_an_older_schema_is_migrated_in_the_fork_not_in_the_parent(workspace, env, tmp_path):
    from agentcli.session.schema import SCHEMA

    fixture = Path(__file__).parent / "fixtures" / "session-v9.sqlite"
    parent = tmp_path / "old" / "session-v9.sqlite"
    parent.parent.mkdir()
    shutil.copyfile(fixture, parent)
    parent.chmod(0o600)
    before = _digest(parent)
    run = agentcli(["fork", str(parent), "--json"], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    fork = Path(json.loads(run.stdout)["path"])
    assert _digest(parent) == before and sorted(p.name for p in parent.parent.iterdir()) == [parent.name]
    conn = sqlite3.connect(fork)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA.version,)
    parent_id = rows(parent, "SELECT id FROM meta")[0]["id"]
    assert conn.execute("SELECT title, forked_from FROM meta").fetchone() == ("fixture session", parent_id)
    conn.close()


def test_list_at_80_columns_keeps_every_id_whole(openai_server, workspace, env):
    from agentcli.cli.render.text import fit_width, list_text
    from agentcli.session.directory import SessionDirectory

    parent_id = _three_prompts(openai_server, workspace, env)
    fork = agentcli(["fork", parent_id, "--at", "2"], env=env, cwd=workspace)
    fork_id = fork.stdout.split()[2]
    entries = SessionDirectory(sessions_folder(workspace)).entries(workspace)
    for width in (80, 100, 120):
        lines = fit_width(list_text(entries, show_workspace=False, width=width), width).splitlines()
        assert lines[0].split()[:6] == ["ID", "STATUS", "MODEL", "UPDATED", "MSGS", "FORKED"]
        row = next(line for line in lines if line.startswith(fork_id))
        assert f"{parent_id}@2" in row and len(row) <= width
