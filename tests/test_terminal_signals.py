"""SIGTERM at a terminal session, wherever it lands (issue 21, E1-E3): saved, exit 130 within 1 s.

A real process in a real terminal (tmux), signalled where a person's session can be: at
the idle prompt, during ``/compact``, while an approval question is on screen. Each time
the session is then resumed by a scripted run and goes on.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import sys
import time

import pytest
from agent_harness import agentcli, rows, session_file, sessions_folder
from openai_answers import text_answer, tool_answer, tool_call
from tmux import Tmux

from agentcli.agent.compaction import COMPACTOR_SYSTEM

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

EXIT_WITHIN = 1.0  # seconds from SIGTERM to the process's exit


def _terminal(server, workspace, env, *extra: str) -> Tmux:
    command = f"{shlex.quote(sys.executable)} -m agentcli --base-url {server.base_url} {' '.join(extra)}"
    return Tmux(command, workspace, env)


def _terminate(term: Tmux) -> float:
    """SIGTERM the agentcli process; seconds until it exited, and its code must be 130."""
    began = time.monotonic()
    os.kill(term.pid, signal.SIGTERM)
    code = term.exit_code(timeout=10)
    elapsed = time.monotonic() - began
    assert code == 130, term.screen()
    return elapsed


def _session_id(workspace) -> str:
    return next(sessions_folder(workspace).glob("*.sqlite")).stem


def test_sigterm_at_the_idle_prompt_saves_and_exits_130(openai_server, workspace, env):
    openai_server.script(text_answer("first answer"))
    term = _terminal(openai_server, workspace, env)
    try:
        term.expect("approval ask")
        time.sleep(0.3)
        term.type("hello")
        term.expect("context left")
        term.expect("Alt-Enter: new line")  # the idle prompt is open again
        assert _terminate(term) < EXIT_WITHIN
    finally:
        term.close()
    openai_server.script(text_answer("second answer"))
    run = agentcli(["resume", _session_id(workspace), "and again", "-p", "--base-url",
                    openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "second answer"


def test_sigterm_during_compact_saves_and_exits_130(openai_server, workspace, env):
    openai_server.script(text_answer("first answer"), text_answer("second answer"),
                         text_answer("SUMMARY", match=COMPACTOR_SYSTEM[:40], delay=30))
    term = _terminal(openai_server, workspace, env)
    try:
        term.expect("approval ask")
        time.sleep(0.3)
        term.type("hello")
        term.expect("context left")
        term.type("more")
        term.expect("context left")
        term.type("/compact")
        openai_server.wait_for_requests(3, timeout=20)  # the summarising call is under way
        assert _terminate(term) < EXIT_WITHIN
    finally:
        term.close()
    db = session_file(workspace, _session_id(workspace))
    assert [r["status"] for r in rows(db, "SELECT status FROM model_calls WHERE purpose = 'compaction'")] == [
        "interrupted"]
    # resume redoes the summarising call SIGTERM cut short, then takes the new prompt
    openai_server.script(text_answer("SUMMARY", match=COMPACTOR_SYSTEM[:40]), text_answer("third answer"))
    run = agentcli(["resume", db.stem, "and again", "-p", "--base-url", openai_server.base_url],
                   env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "third answer"


def test_sigterm_while_a_question_is_shown_saves_and_exits_130(openai_server, workspace, env):
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "echo ran > ran.txt"})))
    term = _terminal(openai_server, workspace, env)
    try:
        term.expect("approval ask")
        time.sleep(0.3)
        term.type("make a file")
        term.expect("allow? [y/n")
        assert _terminate(term) < EXIT_WITHIN
    finally:
        term.close()
    assert not (workspace / "ran.txt").exists()
    db = session_file(workspace, _session_id(workspace))
    assert [r["status"] for r in rows(db, "SELECT status FROM prompts")] == ["interrupted"]
    openai_server.script(text_answer("made it"))
    run = agentcli(["resume", db.stem, "-p", "--approval", "full-auto", "--base-url",
                    openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert (workspace / "ran.txt").read_text() == "ran\n" and run.stdout.strip() == "made it"
