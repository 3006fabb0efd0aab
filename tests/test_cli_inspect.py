"""list, show, log, export and rm on real session files, through the real error boundary."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from agent_harness import sessions_folder
from session_factory import MARKUP_TEXT, damage_table, make_session, run_main, writer_process

from agentcli.session.directory import SessionDirectory
from agentcli.session.session import Session
from agentcli.store.durable import lock_path


def cli(capsys: pytest.CaptureFixture[str], workspace: Path, *args: str) -> tuple[int, str, str]:
    """Run ``agentcli ARGS -C WORKSPACE`` in-process: (exit code, stdout, stderr)."""
    code = run_main([*args, "-C", str(workspace)])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_shows_this_workspaces_sessions(capsys, workspace: Path, session_path: Path) -> None:
    make_session(sessions_folder(workspace), workspace / "elsewhere", title="another workspace")
    code, out, _ = cli(capsys, workspace, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["ID", "STATUS", "MODEL", "UPDATED", "MSGS"]
    assert len(lines) == 2
    assert session_path.stem in lines[1] and "fix the failing test" in lines[1]
    assert "idle" in lines[1] and "gpt-test" in lines[1] and " 5 " in lines[1]


def test_list_all_shows_every_file_and_the_errors_of_unreadable_ones(capsys, workspace, session_path):
    folder = sessions_folder(workspace)
    make_session(folder, workspace / "elsewhere", title="another workspace")
    (folder / "0000000000bad.sqlite").write_bytes(os.urandom(4096))
    code, out, _ = cli(capsys, workspace, "list", "--all")
    assert code == 0
    assert "another workspace" in out and "fix the failing test" in out
    bad = next(line for line in out.splitlines() if line.startswith("0000000000bad"))
    assert "error" in bad and "corrupt" in bad
    code, out, _ = cli(capsys, workspace, "list", "--all", "--json")
    items = {item["id"]: item for item in json.loads(out)}
    assert items["0000000000bad"]["status"] == "error" and "corrupt" in items["0000000000bad"]["error"]
    assert items[session_path.stem]["messages"] == 5


def test_list_json_and_busy(capsys, workspace: Path, session_path: Path) -> None:
    with writer_process(session_path):
        code, out, _ = cli(capsys, workspace, "list", "--json")
    assert code == 0
    [item] = json.loads(out)
    assert item["id"] == session_path.stem and item["busy"] is True and item["status"] == "running"
    assert item["title"] == "fix the failing test" and item["model"] == "gpt-test"
    assert item["workspace_root"] == str(workspace) and item["error"] is None


def test_list_without_sessions(capsys, workspace: Path) -> None:
    code, out, _ = cli(capsys, workspace, "list")
    assert code == 0 and out.startswith("no sessions")
    code, out, _ = cli(capsys, workspace, "list", "--json")
    assert json.loads(out) == []


def _roll_back_last_message(path: Path) -> None:
    with Session.open(path, writer=True) as session:
        session.transcript.append("user", "a prompt that was rolled back", agent="orchestrator")
        session.transcript.mark_rolled_back(session.transcript.last_id() - 1, rollback_id=1)


def test_show_prints_plan_transcript_tool_calls_and_totals(capsys, workspace, session_path) -> None:
    _roll_back_last_message(session_path)
    code, out, _ = cli(capsys, workspace, "show", session_path.stem[:6])
    assert code == 0
    assert f"session {session_path.stem}" in out
    assert "[x] read app.py" in out and "[>] fix it" in out
    assert "fix the failing test" in out and "Let me read it." in out
    assert 'read_file {"path": "app.py"}  done' in out
    assert "def app():" in out
    assert "a prompt that was rolled back" in out and "(rolled back by rollback 1)" in out
    assert "6 messages (1 rolled back)" in out and "300 tokens" in out
    assert MARKUP_TEXT in out  # rich markup and emoji codes printed literally


def test_show_json(capsys, workspace: Path, session_path: Path) -> None:
    code, out, _ = cli(capsys, workspace, "show", "last", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["meta"]["id"] == session_path.stem and shown["busy"] is False
    assert [m["role"] for m in shown["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert shown["messages"][2]["tool_calls"][0]["function"]["name"] == "read_file"
    assert shown["tool_calls"][0]["status"] == "done"
    assert shown["plan"] == [{"title": "read app.py", "status": "done"},
                             {"title": "fix it", "status": "in_progress"}]
    assert shown["totals"]["total_tokens"] == 300 and shown["totals"]["model_call_attempts"] == 3


def test_show_works_while_another_process_writes(capsys, workspace: Path, session_path: Path) -> None:
    with writer_process(session_path, "--open-transaction"):
        code, out, _ = cli(capsys, workspace, "show", session_path.stem)
    assert code == 0
    assert "running (a process is driving it)" in out and "Let me read it." in out
    assert "not committed" not in out


def test_log_lists_every_attempt_with_totals(capsys, workspace: Path, session_path: Path) -> None:
    code, out, _ = cli(capsys, workspace, "log", "last")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["ID", "TIME", "AGENT", "MODEL"]
    assert "429" in lines[1] and "HTTP 429: slow down" in lines[1]
    assert "127.0.0.1" in lines[2] and "340" in lines[2] and "120" in lines[2]
    assert lines[-1] == ("total: 3 attempts (error 1, ok 2) \u00b7 tokens 250 prompt + 50 completion"
                         " = 300 \u00b7 602 ms")


def test_log_json_and_full_rebuild_the_requests(capsys, workspace: Path, session_path: Path) -> None:
    code, out, _ = cli(capsys, workspace, "log", "last", "--json")
    logged = json.loads(out)
    assert code == 0 and logged["session"] == session_path.stem
    assert [c["status"] for c in logged["model_calls"]] == ["error", "ok", "ok"]
    assert "request" not in logged["model_calls"][0]
    assert logged["totals"]["total_tokens"] == 300
    code, out, _ = cli(capsys, workspace, "log", "last", "--json", "--full")
    calls = json.loads(out)["model_calls"]
    assert calls[0]["request"]["model"] == "gpt-test"
    assert calls[0]["request"]["messages"] == [{"role": "system", "content": "You are agentcli."},
                                               {"role": "user", "content": "fix the failing test"}]
    assert calls[2]["request"]["messages"][2]["tool_calls"][0]["id"] == "call_1"
    assert calls[1]["response"]["tool_calls"][0]["function"]["name"] == "read_file"
    code, out, _ = cli(capsys, workspace, "log", "last", "--full")
    assert code == 0 and "--- request" in out and '"content": "You are agentcli."' in out


def test_export_markdown_and_json(capsys, workspace: Path, session_path: Path, tmp_path: Path) -> None:
    code, out, _ = cli(capsys, workspace, "export", "last")
    assert code == 0
    for heading in ("## Meta", "## Plan", "## Prompts", "## Transcript", "## Model calls",
                    "## File changes", "## Checkpoints", "## Totals"):
        assert heading in out
    assert "**Tool call** `read_file`" in out and "| app.py | modify |" in out
    target = tmp_path / "session.json"
    code, out, err = cli(capsys, workspace, "export", "last", "--format", "json", "-o", str(target))
    assert code == 0 and out == "" and str(target) in err
    exported = json.loads(target.read_text())
    assert exported["format"] == "agentcli-session-export"
    assert len(exported["model_calls"]) == 3 and len(exported["messages"]) == 5
    assert exported["file_changes"][0]["path"] == "app.py"
    assert exported["checkpoints"][0]["file_count"] == 3
    assert exported["model_calls"][1]["request"]["messages"][1]["content"] == "fix the failing test"


def test_rm_deletes_the_file_and_its_companions(capsys, workspace: Path, session_path: Path) -> None:
    code, out, _ = cli(capsys, workspace, "rm", session_path.stem, "--yes")
    assert code == 0 and "deleted" in out
    assert list(sessions_folder(workspace).glob(f"{session_path.stem}*")) == []


def test_rm_refuses_without_confirmation_and_without_a_terminal(capsys, workspace, session_path):
    code, _, err = cli(capsys, workspace, "rm", session_path.stem)
    assert code == 2 and "--yes" in err
    assert session_path.exists()


def test_rm_refuses_a_busy_session_with_exit_4(capsys, workspace: Path, session_path: Path) -> None:
    with writer_process(session_path) as holder:
        code, _, err = cli(capsys, workspace, "rm", session_path.stem, "--yes")
    assert code == 4 and f"pid {holder.pid}" in err
    assert session_path.exists()


def test_rm_deletes_a_damaged_file_of_the_folder_but_not_a_foreign_file_elsewhere(capsys, workspace):
    folder = sessions_folder(workspace)
    folder.mkdir(parents=True)
    damaged = folder / "0000000000bad.sqlite"
    damaged.write_bytes(os.urandom(4096))
    code, _, _ = cli(capsys, workspace, "rm", "0000000000bad", "--yes")
    assert code == 0 and not damaged.exists()
    foreign = workspace / "notes.sqlite"
    sqlite3.connect(foreign).execute("CREATE TABLE notes (x)").connection.close()
    code, _, err = cli(capsys, workspace, "rm", str(foreign), "--yes")
    assert code == 2 and "not an agentcli session" in err
    assert foreign.exists()


def _newer(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    "ref, setup, message",
    [
        ("zzzz", None, "no session 'zzzz'"),
        ("0000", "two", "matches 2 sessions"),
        ("000", None, "too short"),
        ("0000000000bad", "corrupt", "corrupt"),
        ("0000000000abc", "foreign", "not an agentcli session"),
        ("0000000000new", "newer", "newer agentcli"),
        ("last", None, "no session of this workspace"),
    ],
)
@pytest.mark.parametrize("command", ["show", "log", "export", "rm"])
def test_errors_are_one_line_with_exit_2(capsys, workspace, command, ref, setup, message) -> None:
    folder = sessions_folder(workspace)
    folder.mkdir(parents=True)
    if setup == "two":
        (folder / "0000000000aaa.sqlite").touch()
        (folder / "0000000000bbb.sqlite").touch()
    elif setup == "corrupt":
        (folder / f"{ref}.sqlite").write_bytes(os.urandom(4096))
    elif setup == "foreign":
        sqlite3.connect(folder / f"{ref}.sqlite").execute("CREATE TABLE x (y)").connection.close()
    elif setup == "newer":
        with SessionDirectory(folder).create(workspace_root=workspace) as session:
            path = session.path
        path.rename(folder / f"{ref}.sqlite")
        assert not lock_path(path).exists()  # a closed session leaves no lock file
        _newer(folder / f"{ref}.sqlite")
    code, out, err = cli(capsys, workspace, command, ref, *(["--yes"] if command == "rm" else []))
    if command == "rm" and setup in ("corrupt", "foreign", "newer"):
        assert code == 0  # an unreadable file inside the sessions folder may be deleted
        assert not (folder / f"{ref}.sqlite").exists()
        return
    assert code == 2, err
    assert err.startswith("agentcli: ") and err.count("\n") == 1 and message in err
    assert "Traceback" not in err and out == ""


def test_debug_shows_the_traceback(workspace: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "agentcli", "show", "zzzz", "-C", str(workspace), "--debug"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "Traceback" in done.stderr and "SessionNotFoundError" in done.stderr




@pytest.mark.parametrize("table", ["meta", "messages"])
def test_a_damaged_page_is_one_line_exit_2_and_never_breaks_the_listing(capsys, workspace, session_path,
                                                                       table) -> None:
    damage_table(session_path, table)
    code, out, err = cli(capsys, workspace, "show", session_path.stem)
    assert code == 2 and "is damaged" in err and err.count("\n") == 1
    code, out, _ = cli(capsys, workspace, "list", "--all")
    assert code == 0 and session_path.stem in out
    if table == "meta":
        assert "is damaged" in out


FAST_START_PROBE = """
import sys
from agentcli.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(sorted(m for m in ("openai", "pydantic", "rich", "sqlite_utils") if m in sys.modules), file=sys.stderr)
"""


def test_list_imports_nothing_heavy(workspace: Path, session_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", FAST_START_PROBE, "list", "-C", str(workspace)],
                          capture_output=True, text=True, timeout=30)
    assert session_path.stem in done.stdout
    assert done.stderr.strip().splitlines()[-1] == "[]"
