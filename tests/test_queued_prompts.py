"""A prompt typed ahead in a cancelled terminal turn is not a later scripted resume's to run
(issue 20, major 10): that resume lists it and leaves it queued unless ``--queued run``; the
terminal's goodbye line says it is still queued."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from agent_harness import agentcli, cli_env, rows, sessions_folder
from openai_answers import text_answer
from terminal_harness import TerminalHarness


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / "config"))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return root.resolve()


@pytest.fixture
def typed_ahead(workspace: Path, openai_server) -> tuple[Path, str]:
    """A terminal session whose turn was cancelled with a line typed ahead, left queued."""
    hold = threading.Event()
    openai_server.script(text_answer("working on it", hold=hold))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("look around\r")
        openai_server.wait_for_requests(1)
        term.keys("now delete the build folder\r")
        term.expect("queued for the next turn")
        term.keys("\x03")  # Ctrl-C: the turn is cancelled, the typed-ahead line is kept
        term.expect("1 queued prompt kept")
        term.type("\x04")  # Ctrl-D at the empty prompt: leave
        term.finish()
    hold.set()
    db = next(sessions_folder(workspace).glob("*.sqlite"))
    screen = " ".join(term.screen.split())  # rich wraps the line at the terminal's width
    assert "1 prompt you typed ahead is still queued" in screen
    assert "a scripted one only with --queued run" in screen
    return db, db.stem


def test_a_scripted_resume_lists_and_skips_prompts_typed_ahead_at_a_terminal(typed_ahead, workspace,
                                                                           openai_server, tmp_path):
    db, session_id = typed_ahead
    openai_server.requests.clear()
    openai_server.script(text_answer("tests pass"))
    env = cli_env(tmp_path / "home")
    run = agentcli(["resume", session_id, "run the tests", "-p", "--approval", "full-auto",
                    "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert len(openai_server.requests) == 1
    sent = [m["content"] for m in openai_server.requests[0].body["messages"] if m["role"] == "user"]
    assert "now delete the build folder" not in sent and sent[-1] == "run the tests"
    assert "1 prompt typed ahead at a terminal left queued, not run (--queued run runs them" in run.stderr
    assert "now delete the build folder" in run.stderr
    statuses = {r["text"]: r["status"] for r in rows(db, "SELECT text, status FROM prompts")}
    assert statuses["now delete the build folder"] == "queued" and statuses["run the tests"] == "done"


def test_queued_run_takes_them_first(typed_ahead, workspace, openai_server, tmp_path) -> None:
    db, session_id = typed_ahead
    openai_server.requests.clear()
    openai_server.script(text_answer("deleted"), text_answer("tests pass"))
    env = cli_env(tmp_path / "home")
    run = agentcli(["resume", session_id, "run the tests", "-p", "--queued", "run", "--base-url",
                    openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    last_users = [[m["content"] for m in r.body["messages"] if m["role"] == "user"][-1]
                  for r in openai_server.requests]
    assert last_users == ["now delete the build folder", "run the tests"]
    assert "running 1 prompt typed ahead at a terminal first (--queued run)" in run.stderr
    bad = agentcli(["resume", session_id, "-p", "--queued", "maybe"], env=env, cwd=workspace)
    assert bad.code == 2 and "--queued takes skip or run" in bad.stderr
