"""Rollback where the disk fights back: a file nobody may read, a folder where a file was.

Reuses the two-prompt scenario of ``test_rollback`` (prompt 2 appends to ``src/app.py``);
``rollback SESSION`` puts the workspace back to ``before[2]``. The unreadable file needs
permission bits that bind, so those runs go through :func:`permissions.agentcli_bound`.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from permissions import agentcli_bound, needs_permission_bits
from test_rollback import SESSION, Built, build, cli, snapshot

from agentcli.session.session import Session


@pytest.fixture
def built(tmp_path: Path) -> Built:
    return build(tmp_path / "ws")


def session_file(built: Built) -> Path:
    return built.root / "sessions" / f"{SESSION}.sqlite"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def bound(built: Built, *args: str):
    return agentcli_bound([*args, "-C", str(built.root)], env=dict(os.environ), cwd=built.root)


@needs_permission_bits
def test_a_changed_file_nobody_may_read_is_a_conflict_then_restored_with_force(built: Built) -> None:
    app = built.root / "src" / "app.py"
    app.chmod(0o000)
    file_before = digest(session_file(built))
    stopped = bound(built, "rollback", SESSION)
    assert stopped.code == 5, stopped.stderr
    assert "src/app.py" in stopped.stderr and "internal error" not in stopped.stderr
    assert stopped.stderr.strip().splitlines()[-1].startswith("agentcli: ")
    assert (app.stat().st_mode & 0o777) == 0 and digest(session_file(built)) == file_before
    forced = bound(built, "rollback", SESSION, "--force")
    assert forced.code == 0, forced.stderr
    assert "restored  src/app.py" in forced.stdout and "overwrote src/app.py" in forced.stderr
    assert snapshot(built.root) == built.before[2]


def test_force_onto_a_folder_of_the_users_files_keeps_it_and_exits_5(built: Built) -> None:
    app = built.root / "src" / "app.py"
    app.unlink()
    app.mkdir()
    (app / "mine.txt").write_text("my own work\n")
    stopped = cli(built, "rollback", SESSION)
    assert stopped.returncode == 5, stopped.stderr
    forced = cli(built, "rollback", SESSION, "--force")
    assert forced.returncode == 5, forced.stderr
    assert "overwrote" not in forced.stderr and "internal error" not in forced.stderr
    last = forced.stderr.strip().splitlines()[-1]
    assert last.startswith("agentcli: ") and "src/app.py" in last and "not restored" in last
    assert (app / "mine.txt").read_text() == "my own work\n"  # the user's folder is kept
    rest = {k: v for k, v in snapshot(built.root).items() if not k.startswith("src/app.py")}
    assert rest == {k: v for k, v in built.before[2].items() if k != "src/app.py"}
    with Session.open(session_file(built), writer=False) as session:
        record = session.rollbacks.all()[-1]
    assert record.status == "partial"
    conn = sqlite3.connect(session_file(built))
    [(status,)] = conn.execute("SELECT status FROM file_changes WHERE source = 'rollback' "
                               "AND path = 'src/app.py'").fetchall()
    conn.close()
    assert status == "abandoned"


@pytest.mark.slow
@needs_permission_bits
def test_a_change_then_chmod_000_is_logged_and_its_rollback_is_a_conflict(tmp_path: Path) -> None:
    """issue 20, Major 9: the scan may not read the file, but its stat moved: that is a change."""
    from agent_harness import cli_env
    from openai_answers import text_answer, tool_answer, tool_call
    from openai_server import ScriptedOpenAIServer

    root = tmp_path / "ws"
    root.mkdir()
    app = root / "app.py"
    app.write_text("v1\n")
    env = cli_env(tmp_path / "home")

    def run(*args: str):
        return agentcli_bound(list(args), env=env, cwd=root)

    with ScriptedOpenAIServer() as server:
        command = "echo v2 >> app.py && chmod 000 app.py"
        server.script(tool_answer(tool_call("run_shell", {"command": command})), text_answer("done"))
        done = run("new", "change it", "-p", "--base-url", server.base_url, "--approval", "full-auto")
    assert done.code == 0, done.stderr
    db = next((root / ".agentcli" / "sessions").glob("*.sqlite"))
    conn = sqlite3.connect(db)
    logged = conn.execute("SELECT path, op, after_mode, restorable FROM file_changes").fetchall()
    conn.close()
    assert logged == [("app.py", "modify", 0, 0)]
    diff = run("diff", "last")
    assert "app.py" in diff.stdout and "unreadable" in diff.stdout
    stopped = run("rollback", "last")
    assert stopped.code == 5 and "app.py" in stopped.stderr, stopped.stderr
    assert (app.stat().st_mode & 0o777) == 0
    forced = run("rollback", "last", "--force")
    assert forced.code == 0, forced.stderr
    assert app.read_text() == "v1\n" and (app.stat().st_mode & 0o777) == 0o644
    undo = run("rollback", "last", "--undo")  # what was never read cannot come back: partial, exit 5
    assert undo.code == 5 and "partial" in undo.stderr and "app.py" in undo.stderr, undo.stderr
    assert app.read_text() == "v1\n"


@pytest.mark.slow
@needs_permission_bits
def test_a_folder_made_unsearchable_is_a_change_not_an_internal_error(tmp_path: Path) -> None:
    """The folder side of Major 9: what lies below a chmod 000 folder can no longer be seen."""
    from agent_harness import cli_env
    from openai_answers import text_answer, tool_answer, tool_call
    from openai_server import ScriptedOpenAIServer

    root = tmp_path / "ws"
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "f").write_text("x\n")
    (root / "d" / "sub" / "g").write_text("g\n")
    env = cli_env(tmp_path / "home")

    def run(*args: str):
        return agentcli_bound(list(args), env=env, cwd=root)

    try:
        with ScriptedOpenAIServer() as server:
            command = "echo y >> d/f && chmod 000 d"
            server.script(tool_answer(tool_call("run_shell", {"command": command})), text_answer("done"))
            done = run("new", "hide it", "-p", "--base-url", server.base_url, "--approval", "full-auto")
        assert done.code == 0 and "internal error" not in done.stderr, done.stderr
        stopped = run("rollback", "last")
        assert stopped.code == 5 and "d/f" in stopped.stderr, stopped.stderr
        forced = run("rollback", "last", "--force")
        assert forced.code == 0, forced.stderr
        assert (root / "d").stat().st_mode & 0o777 == 0o755
        assert (root / "d" / "f").read_text() == "x\n" and (root / "d" / "sub" / "g").read_text() == "g\n"
    finally:
        (root / "d").chmod(0o755)  # let pytest clean up
