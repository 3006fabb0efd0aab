"""The sessions a person keeps, in a real terminal at 80 columns through tmux (issue 24):
``agentcli "task"`` opens the terminal with that prompt running; ``agentcli`` left at once
creates no file; ``/fork`` goes on in a fork. Skipped where tmux is absent."""

from __future__ import annotations

import shlex
import shutil
import sys
import time

import pytest
from agent_harness import rows, sessions_folder
from openai_answers import text_answer
from tmux import WIDTH, Tmux

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

AGENTCLI = f"{shlex.quote(sys.executable)} -m agentcli"


def _fits(screen: str) -> None:
    for line in screen.splitlines():
        assert len(line) <= WIDTH, line


def test_leaving_an_empty_terminal_creates_no_session(tmp_path, openai_server, env):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    term = Tmux(f"{AGENTCLI} --base-url {openai_server.base_url}", workspace, env)
    try:
        term.expect("agentcli · new session")
        time.sleep(0.3)
        term.type("/status")
        term.expect("no session yet")
        term.send("C-d")
        screen = term.expect("no prompt was sent, so no session was made")
        assert term.exit_code() == 0
        _fits(screen)
    finally:
        term.close()
    assert not list(sessions_folder(workspace).glob("*.sqlite*"))
    assert openai_server.requests == []


def test_a_bare_task_opens_the_terminal_with_it_then_fork_goes_on_in_a_fork(tmp_path, openai_server, env):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    openai_server.script(text_answer("first answer"), text_answer("second answer"),
                         text_answer("forked answer"))
    term = Tmux(f"{AGENTCLI} explain this repository --base-url {openai_server.base_url}", workspace, env)
    try:
        term.expect("first answer")
        term.expect("context left")
        time.sleep(0.3)
        term.type("and now the tests")
        term.expect("second answer")
        term.expect("context left", times=2)
        term.type("/fork 2")
        term.expect("the original resumes with")
        term.type("try another way")
        term.expect("forked answer")
        term.expect("context left", times=3)
        term.type("/exit")
        screen = term.expect("agentcli resume ")
        assert term.exit_code() == 0
        _fits(screen)
    finally:
        term.close()
    files = sorted(sessions_folder(workspace).glob("*.sqlite"))
    assert len(files) == 2 and not list(sessions_folder(workspace).glob("*.lock"))
    parent, fork = files
    assert [r["text"] for r in rows(parent, "SELECT text FROM prompts ORDER BY id")] == [
        "explain this repository", "and now the tests"]
    link = rows(fork, "SELECT forked_from, forked_at FROM meta")
    assert link == [{"forked_from": parent.stem, "forked_at": 2}]
    assert [r["text"] for r in rows(fork, "SELECT text FROM prompts ORDER BY id")] == [
        "explain this repository", "try another way"]
    sent = [m["content"] for m in openai_server.requests[-1].body["messages"] if m["role"] == "user"]
    assert sent == ["explain this repository", "try another way"]
