"""Keys at the terminal: approvals by one key, Esc stops a turn, Alt-Enter still a new line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from agent_harness import rows, sessions_folder
from openai_answers import text_answer, tool_answer, tool_call
from terminal_harness import TerminalHarness


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    config = tmp_path / "config"
    (config / "agentcli").mkdir(parents=True)
    (config / "agentcli" / "config.toml").write_text("retry_max_wait = 0.01\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return root.resolve()


def _db(workspace: Path) -> Path:
    return next(sessions_folder(workspace).glob("*.sqlite"))


def _wait(predicate, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except StopIteration:  # no session file yet: the first prompt makes it
            pass
        assert time.monotonic() < deadline, "it never happened"
        time.sleep(0.02)


def test_one_key_answers_and_a_new_files_header_counts_all_its_lines(workspace, openai_server):
    content = "".join(f"line {n}\n" for n in range(1, 101))
    openai_server.script(tool_answer(tool_call("write_file", {"path": "new.txt", "content": content})),
                         text_answer("wrote it"))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("write it\r")
        screen = term.expect("a always")
        assert "  create new.txt  +100 -0\n" in screen  # not +40: the diff shows 40 of them
        assert "… 60 more lines (100 in all)" in screen
        term.keys("y")  # no Enter
        term.expect("wrote it")
        term.type("/exit\r")
        term.finish()
    assert (workspace / "new.txt").read_text() == content


def test_keys_that_answer_nothing_are_ignored_and_always_is_not_offered_for_a_compound_command(
        workspace, openai_server):
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "echo a && echo b"})),
                         text_answer("ran it"))
    with TerminalHarness(workspace, openai_server, flags={"sandbox": "off"}) as term:
        term.type("run\r")
        screen = term.expect("y yes · n no · r no, and tell the model why")
        assert "\n  a " not in screen.split("run_shell wants to run")[-1]
        term.keys("x\r")  # neither answers
        term.keys("a")
        term.expect("cannot be allowed always (a compound command): y allows it once")
        term.keys("y")
        term.expect("ran it")
        term.type("/exit\r")
        term.finish()
    call = rows(_db(workspace), "SELECT approval, status FROM tool_calls")[0]
    assert (call["approval"], call["status"]) == ("allowed", "done")
    assert rows(_db(workspace), "SELECT count(*) AS n FROM approvals")[0]["n"] == 0


def test_esc_stops_a_running_turn_like_ctrl_c(workspace, openai_server):
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "sleep 30"})), text_answer("never"))
    with TerminalHarness(workspace, openai_server, approval="full-auto", flags={"sandbox": "off"}) as term:
        term.type("wait\r")
        _wait(lambda: rows(_db(workspace), "SELECT count(*) AS n FROM tool_calls")[0]["n"] == 1)
        began = time.monotonic()
        term.keys("\x1b")
        term.expect("turn stopped")
        stopped = time.monotonic() - began
        term.wait_idle()
        term.type("/exit\r")
        term.finish()
    assert stopped < 3, stopped
    assert rows(_db(workspace), "SELECT status, error FROM prompts")[0]["status"] == "cancelled"
    assert rows(_db(workspace), "SELECT status FROM tool_calls")[0]["status"] == "interrupted"


def test_esc_at_a_question_stops_the_turn(workspace, openai_server):
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "echo hi"})), text_answer("never"))
    with TerminalHarness(workspace, openai_server, flags={"sandbox": "off"}) as term:
        term.type("run\r")
        term.expect("y yes")
        term.keys("\x1b")
        term.expect("turn stopped")
        term.type("/exit\r")
        term.finish()
    assert rows(_db(workspace), "SELECT status FROM prompts")[0]["status"] == "cancelled"
    assert rows(_db(workspace), "SELECT status FROM tool_calls")[0]["status"] == "denied"
    assert len(openai_server.requests) == 1


def test_esc_at_the_idle_prompt_is_harmless_and_alt_enter_still_starts_a_new_line(workspace, openai_server):
    openai_server.script(text_answer("first", delay=1.0), text_answer("second"))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("\x1b")  # nothing typed: nothing happens
        time.sleep(0.5)
        term.type("one\x1b\rtwo\r")  # Alt-Enter (Esc, Enter) between the two lines
        openai_server.wait_for_requests(1)
        term.keys("three\x1b\rfour\r")  # while the agent works: a new line too, not a stop
        term.expect("first")
        term.expect("second")
        term.wait_idle()
        term.type("/exit\r")
        term.finish()
    prompts = rows(_db(workspace), "SELECT text, status FROM prompts ORDER BY id")
    assert prompts == [{"text": "one\ntwo", "status": "done"}, {"text": "three\nfour", "status": "done"}]
