"""Bad session files on every command: one line, exit 2, the file and its folder untouched.

A bad file is a blank (0-byte) file, a foreign SQLite file (in WAL mode, the hardest
case: merely reading one makes SQLite create ``-wal``/``-shm`` files), a session whose
``meta`` page is damaged, one whose ``messages`` page is damaged, and one whose ``meta``
row holds bytes that are not UTF-8; and sessions whose schema is not agentcli's (issue 20,
major 7): ``messages`` a recursive VIEW (which hung every reader), a trigger, a table
altered or missing. A read-only (0400) session is not bad: readers show
it, writers refuse it. Every run compares the file's sha256 and the folder's listing
(no new ``-wal``, ``-shm`` or ``.lock`` file) before and after.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest
from agent_harness import agentcli
from permissions import agentcli_bound, needs_permission_bits
from session_factory import damage_table, make_session

READERS = ["show", "log", "export", "checkpoints", "diff"]
WRITERS = ["resume", "rollback"]
BAD = ["blank", "foreign", "damaged-meta", "damaged-messages", "undecodable-meta", "view-messages",
       "trigger", "altered-table", "missing-table"]
MESSAGES = {
    "blank": "is empty",
    "foreign": "not an agentcli session",
    "damaged-meta": "is damaged",
    "damaged-messages": "is damaged",
    "undecodable-meta": "is damaged",
    "view-messages": "messages is a view",
    "trigger": "a trigger (stamp)",
    "altered-table": "tool_calls is not",
    "missing-table": "no table tasks",
}
ENDLESS = ("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) "
           "SELECT x AS id, 'orchestrator' AS agent, 1 AS prompt_id, 'user' AS role, '' AS content, "
           "0 AS chars, NULL AS tool_calls, NULL AS tool_call_id, NULL AS model_call_id, '' AS created_at, "
           "NULL AS rolled_back_by FROM n")
HOSTILE = {  # a schema that is not agentcli's: each hung a reader or ran on agentcli's writes
    "view-messages": ["DROP TABLE messages", f"CREATE VIEW messages AS {ENDLESS}"],
    "trigger": ["CREATE TRIGGER stamp AFTER UPDATE ON meta BEGIN UPDATE meta SET title = 'pwned'; END"],
    "altered-table": ["ALTER TABLE tool_calls ADD COLUMN note TEXT"],
    "missing-table": ["DROP TABLE tasks"],
}


def state(path: Path) -> tuple[str, list[str]]:
    """The file's sha256 and every name in its folder."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), sorted(os.listdir(path.parent))




def make_bad(kind: str, path: Path, workspace: Path) -> None:
    """Put a bad file of ``kind`` at ``path`` (no companions beside it)."""
    if kind == "blank":
        path.touch()
    elif kind == "foreign":
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
        conn.commit()
        conn.close()
    else:
        made = make_session(path.parent / "made", workspace)
        made.rename(path)
        conn = sqlite3.connect(path)
        conn.execute("UPDATE meta SET id = ?", [path.stem])
        if kind == "undecodable-meta":
            conn.execute("UPDATE meta SET title = CAST(x'fffe41' AS TEXT)")
        for statement in HOSTILE.get(kind, []):
            conn.execute(statement)
        conn.commit()
        conn.close()
        if kind.startswith("damaged-"):
            damage_table(path, kind.removeprefix("damaged-"))
    for leftover in path.parent.glob("made*"):
        leftover.unlink() if leftover.is_file() else _rmtree(leftover)
    for extra in ("-wal", "-shm"):
        assert not path.with_name(path.name + extra).exists()


def _rmtree(folder: Path) -> None:
    for item in folder.iterdir():
        item.unlink()
    folder.rmdir()


def run(command: str, ref: str, folder: Path, workspace: Path, env: dict[str, str], *, bound: bool = False):
    args = {"rm": ["--yes"], "resume": ["go on", "--base-url", "http://127.0.0.1:9"]}.get(command, [])
    head = ["list", "--all"] if command == "list" else [command, ref]
    runner = agentcli_bound if bound else agentcli
    return runner([*head, *args, "--sessions-dir", str(folder), "-C", str(workspace)], env=env, cwd=workspace)


def assert_one_line(result, message: str) -> None:
    assert result.code == 2, result.stderr
    assert result.stderr.startswith("agentcli: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr and "internal error" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize("command", [*READERS, *WRITERS, "rm"])
def test_a_bad_file_given_by_path_is_refused_untouched(tmp_path, workspace, env, command, kind) -> None:
    folder = workspace / "sessions"
    path = tmp_path / "given" / "notes.sqlite"
    path.parent.mkdir()
    make_bad(kind, path, workspace)
    before = state(path)
    result = run(command, str(path), folder, workspace, env)
    if kind == "damaged-messages" and command in ("log", "checkpoints", "diff", "rm"):
        # these never read the transcript: the damage is out of their way (and rm
        # deletes a file whose meta row shows it is a session)
        assert result.code == 0, result.stderr
    else:
        assert_one_line(result, MESSAGES[kind])
    if command == "rm" and result.code == 0:
        assert not path.exists() and os.listdir(path.parent) == []
    else:
        assert state(path) == before


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize("command", [*READERS, *WRITERS])
def test_a_bad_file_in_the_sessions_folder_is_refused_untouched(workspace, env, command, kind) -> None:
    folder = workspace / "sessions"
    folder.mkdir()
    path = folder / "0000000000bad.sqlite"
    make_bad(kind, path, workspace)
    before = state(path)
    result = run(command, "0000000000bad", folder, workspace, env)
    if kind == "damaged-messages" and command in ("log", "checkpoints", "diff"):
        assert result.code == 0, result.stderr
    else:
        assert_one_line(result, MESSAGES[kind])
    assert state(path) == before


@pytest.mark.parametrize("kind", BAD)
def test_list_all_shows_a_bad_file_as_an_error_and_leaves_it_untouched(workspace, env, kind) -> None:
    folder = workspace / "sessions"
    folder.mkdir()
    path = folder / "0000000000bad.sqlite"
    make_bad(kind, path, workspace)
    before = state(path)
    result = agentcli(["list", "--all", "--sessions-dir", str(folder), "-C", str(workspace)],
                      env=env, cwd=workspace)
    assert result.code == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("0000000000bad"))
    if kind != "damaged-messages":  # list reads meta and counts rows: that damage is out of its way
        assert "error" in line and MESSAGES[kind] in line
    assert state(path) == before


@pytest.mark.parametrize("kind", BAD)
def test_rm_deletes_a_bad_file_of_the_sessions_folder_without_touching_it_first(workspace, env, kind):
    folder = workspace / "sessions"
    folder.mkdir()
    path = folder / "0000000000bad.sqlite"
    make_bad(kind, path, workspace)
    result = run("rm", "0000000000bad", folder, workspace, env)
    assert result.code == 0, result.stderr
    assert os.listdir(folder) == []


@pytest.fixture
def read_only(workspace: Path) -> Path:
    path = make_session(workspace / "sessions", workspace)
    (workspace / "app.py").write_text("def app():\n    return 2\n")
    assert not path.with_name(path.name + ".lock").exists()  # a closed session leaves no lock file
    path.chmod(0o400)
    return path


@needs_permission_bits
@pytest.mark.parametrize("command", [*READERS, "list"])
def test_a_read_only_session_is_read_without_new_files_beside_it(read_only, workspace, env, command):
    before = state(read_only)
    result = run(command, read_only.stem, read_only.parent, workspace, env, bound=True)
    assert result.code == 0, result.stderr
    assert state(read_only) == before


@needs_permission_bits
@pytest.mark.parametrize("command", WRITERS)
@pytest.mark.parametrize("bound", [True, False], ids=["as-a-user", "as-root"])
def test_a_read_only_session_is_refused_by_writers_untouched(read_only, workspace, env, command, bound):
    before = state(read_only)
    result = run(command, read_only.stem, read_only.parent, workspace, env, bound=bound)
    assert_one_line(result, "read-only")
    assert state(read_only) == before


def test_rm_deletes_a_read_only_session(read_only, workspace, env):
    result = run("rm", read_only.stem, read_only.parent, workspace, env)
    assert result.code == 0, result.stderr
    assert os.listdir(read_only.parent) == [".gitignore"]


@pytest.mark.parametrize("kind", ["undecodable-meta", "damaged-meta"])
def test_a_meta_row_that_is_not_utf8_or_damaged_lists_as_damaged(workspace, env, kind) -> None:
    folder = workspace / "sessions"
    folder.mkdir()
    path = folder / "0000000000bad.sqlite"
    make_bad(kind, path, workspace)
    before = state(path)
    listed = agentcli(["list", "--all", "--json", "--sessions-dir", str(folder), "-C", str(workspace)],
                      env=env, cwd=workspace)
    assert listed.code == 0, listed.stderr
    [item] = json.loads(listed.stdout)
    assert item["id"] == "0000000000bad" and item["status"] == "error" and "is damaged" in item["error"]
    mine = agentcli(["list", "--sessions-dir", str(folder), "-C", str(workspace)], env=env, cwd=workspace)
    assert mine.code == 0 and "0000000000bad" not in mine.stdout  # not this workspace's, as far as we know
    for command in ("show", "resume", "rollback"):
        assert_one_line(run(command, "0000000000bad", folder, workspace, env), "is damaged")
    assert state(path) == before


def _leaf_pages(path: Path, table: str) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [r[0] for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY pageno", [table])]
    except sqlite3.OperationalError:  # SQLite built without the dbstat table
        pytest.skip("this SQLite has no dbstat table to find a page with")
    finally:
        conn.close()


def test_a_page_damaged_deep_inside_stops_only_what_reads_it_with_one_line(workspace, env,
                                                                           openai_server) -> None:
    from openai_answers import text_answer

    from agentcli.session.session import Session

    folder = workspace / ".agentcli" / "sessions"
    path = make_session(folder, workspace)
    with Session.open(path, writer=True) as session, session.transaction():
        for n in range(1_500):  # ~1.5 MB of transcript: hundreds of leaf pages
            session.transcript.append("user", f"message {n} " + "x" * 1_000, agent="scout-1")
    leaves = _leaf_pages(path, "messages")
    with path.open("r+b") as file:  # the first and last leaves stay whole
        file.seek((leaves[len(leaves) // 2] - 1) * 4096)
        file.write(b"\xa5" * 4096)
    # opening for writing does not read every page: a turn that never reads the damage runs
    openai_server.script(text_answer("carried on"))
    resumed = agentcli(["resume", path.stem, "go on", "-p", "--base-url", openai_server.base_url],
                       env=env, cwd=workspace)
    assert resumed.code == 0, resumed.stderr
    assert "carried on" in resumed.stdout
    # whatever reads the damaged page ends in one line, exit 2, never an internal error
    for command in (["show", path.stem], ["export", path.stem, "-o", str(workspace / "out.json")],
                    ["rollback", path.stem, "--to", "1"]):
        assert_one_line(agentcli(command, env=env, cwd=workspace), "damaged")
