"""Scripted runs as CI uses them: piped input with a prompt, one line per error, advice that fits."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from agent_harness import agentcli, agentcli_process, sessions_folder
from openai_answers import error_answer, text_answer, tool_answer, tool_call

DIFF = "diff --git a/calc.py b/calc.py\n-    return a - b\n+    return a + b\n"


def user_messages(request) -> list[str]:
    return [m["content"] for m in request.body["messages"] if m["role"] == "user"]


def error_lines(stderr: str) -> list[str]:
    """The lines that report the failure (not progress such as ``checkpoint 1``)."""
    return [line for line in stderr.splitlines() if line.startswith(("error:", "agentcli: ")) and
            not line.startswith("agentcli: session ")]


def test_piped_stdin_and_a_prompt_argument_are_both_sent(openai_server, workspace, env):
    openai_server.script(text_answer("looks right"))
    run = agentcli(["new", "review this", "-p", "--base-url", openai_server.base_url],
                   env=env, cwd=workspace, stdin=DIFF)
    assert run.code == 0, run.stderr
    (sent,) = user_messages(openai_server.requests[0])
    assert sent.startswith("review this\n\n") and sent.endswith(DIFF)


@pytest.mark.slow
def test_a_real_pipe_combines_with_the_argument(openai_server, workspace, env):
    openai_server.script(text_answer("looks right"))
    run = agentcli_process(["new", "review this", "-p", "--base-url", openai_server.base_url],
                           env=env, cwd=workspace, stdin=DIFF)
    assert run.code == 0 and run.stdout.strip() == "looks right", run.stderr
    assert user_messages(openai_server.requests[0]) == [f"review this\n\n{DIFF}"]


def test_a_rejected_key_is_one_line_with_the_servers_words_and_leaves_no_session(
        openai_server, workspace, env):
    openai_server.script(error_answer(401, "Incorrect API key provided: sk-wr**ng"))
    run = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 3
    (line,) = error_lines(run.stderr)
    assert "rejected the API key (401: Incorrect API key provided: sk-wr**ng)" in line
    assert "OPENAI_API_KEY is set" in line and "no session was kept" in line and "resume" not in line
    assert not list(sessions_folder(workspace).glob("*.sqlite"))


def test_a_context_overflow_points_at_context_window(openai_server, workspace, env):
    openai_server.script(text_answer("first"), error_answer(
        400, "This model's maximum context length is 8192 tokens. However, you requested 9100 tokens."))
    first = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert first.code == 0, first.stderr
    run = agentcli(["resume", "last", "more", "-p", "--base-url", openai_server.base_url],
                   env=env, cwd=workspace)
    assert run.code == 3
    (line,) = error_lines(run.stderr)
    assert "maximum context length is 8192" in line and "--context-window" in line
    assert f"agentcli resume {first.session_id}" in line  # this session had answers: it is kept


def test_a_refused_connection_is_told_with_the_schedule_then_a_line_a_retry(workspace, env):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = agentcli(["new", "hi", "-p", "--base-url", f"http://127.0.0.1:{port}/v1"], env=env, cwd=workspace)
    assert run.code == 3
    retries = [line for line in run.stderr.splitlines() if "retrying" in line]
    # the first names the host and the schedule; each says why and when (issue 10); nothing
    # listens on a local port: three attempts in all (issue 24)
    assert len(retries) == 2 and f"127.0.0.1:{port}" in retries[0] and "2 more times over" in retries[0]
    assert all("Connection refused" in line and "retrying in" in line for line in retries)
    assert retries[1].endswith("(attempt 3 of 3)")
    (line,) = error_lines(run.stderr)
    assert line.startswith(f"agentcli: cannot connect to 127.0.0.1:{port} (connection refused; 3 attempts)")


def test_a_denied_call_names_the_mode_that_would_allow_it(openai_server, workspace, env):
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "pytest -q"})),
                         text_answer("could not run the tests"))
    run = agentcli(["new", "run the tests", "-p", "--approval", "auto-edit", "--base-url",
                    openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 6
    (line,) = [x for x in run.stderr.splitlines() if x.startswith("agentcli: denied")]
    assert "(--approval auto-edit): $ pytest -q — --approval full-auto allows it" in line
    assert "Rerun with --approval auto-edit" not in run.stderr


def test_turn_limit_advice_goes_to_the_script_not_into_the_event_a_terminal_prints(
        openai_server, workspace, env):
    openai_server.script(tool_answer(tool_call("list_files", {})), tool_answer(tool_call("list_files", {})))
    run = agentcli(["new", "look", "--json", "--max-turns", "1", "--base-url", openai_server.base_url],
                   env=env, cwd=workspace)
    assert run.code == 1
    events = run.events()
    (error,) = [e for e in events if e["type"] == "error"]
    assert error["message"].startswith("turn limit reached") and "resume" not in error["message"]
    finished = events[-1]
    assert finished["reason"] == "max_turns"
    assert f"agentcli resume {finished['session']} --max-turns N goes on" in finished["error"]


def test_a_session_the_endpoint_refused_is_not_kept_but_one_it_failed_is(openai_server, workspace: Path,
                                                                          env):
    openai_server.script(error_answer(401, "Incorrect API key provided"))
    run = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 3  # a bad key: nothing worth resuming
    assert "no session was kept" in run.stderr.splitlines()[-1]
    assert sessions_folder(workspace).is_dir() and not list(sessions_folder(workspace).glob("*.sqlite"))
    down = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert down.code == 3  # the scripted server has no answer: a 500 after every retry
    assert "agentcli resume" in down.stderr.splitlines()[-1]  # the turn is resumable: kept
    assert len(list(sessions_folder(workspace).glob("*.sqlite"))) == 1


def test_a_session_opened_and_left_without_a_prompt_is_not_worth_keeping(tmp_path, workspace):
    from agentcli.agent.config import Settings
    from agentcli.agent.engine.inspect import SessionFacts
    from agentcli.agent.pricing import Pricing
    from agentcli.session.directory import SessionDirectory

    with SessionDirectory(tmp_path / "s").create(workspace_root=workspace, title="") as session:
        facts = SessionFacts(session, Settings(), Pricing())
        assert facts.never_answered("done")
        session.add_prompt("hello", source="terminal")
        assert not facts.never_answered("interrupted")
