"""A hostile or broken endpoint (issue 20) never turns into an internal error, a wedged
session or unbounded memory: odd usage counts, endless answers, answers cut at the length
limit, tool calls without an index, duplicate tool-call ids."""

from __future__ import annotations

import json
import sqlite3

import pytest
from agent_harness import agentcli, rows, session_file
from openai_answers import text_answer

BAD_COUNTS = {"a string": "many", "NaN": float("nan"), "1e400": float("inf"), "a list": [1, 2],
              "past 2^63": 2**64, "negative": -5}


@pytest.mark.parametrize("case", list(BAD_COUNTS))
def test_a_usage_count_that_is_no_count_is_recorded_as_none(case: str, openai_server, workspace, env):
    bad = BAD_COUNTS[case]
    openai_server.script(text_answer("hello", usage={"prompt_tokens": bad, "completion_tokens": 7,
                                                     "total_tokens": bad,
                                                     "prompt_tokens_details": {"cached_tokens": bad}}))
    base = ["--base-url", openai_server.base_url]
    run = agentcli(["new", "hi", "-p", *base], env=env, cwd=workspace)
    assert run.code == 0 and run.stdout.strip() == "hello", run.stderr
    db = session_file(workspace, run.session_id)
    counts = "SELECT prompt_tokens, completion_tokens, total_tokens, cached_tokens FROM model_calls"
    assert rows(db, counts) == [{"prompt_tokens": 0, "completion_tokens": 7, "total_tokens": 7,
                                 "cached_tokens": None}]
    openai_server.script(text_answer("again"))
    again = agentcli(["resume", "last", "-p", "more", "--max-tokens", "100000", *base],
                     env=env, cwd=workspace)
    assert again.code == 0 and again.stdout.strip() == "again", again.stderr


def test_old_rows_with_counts_that_are_no_counts_read_as_none(openai_server, workspace, env):
    """A session file whose audit rows hold text, NaN-born nulls, 1e300, -1 or counts whose sum
    passes 2^63 (a hostile file, or one written before counts were checked) still reads, sums
    and resumes."""
    base = ["--base-url", openai_server.base_url]
    openai_server.script(text_answer("one"), text_answer("two"), text_answer("three"))
    first = agentcli(["new", "hi", "-p", *base], env=env, cwd=workspace)
    assert first.code == 0, first.stderr
    for prompt in ("b", "c"):
        assert agentcli(["resume", "last", "-p", prompt, *base], env=env, cwd=workspace).code == 0
    db = session_file(workspace, first.session_id)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE model_calls SET prompt_tokens = 'lots', completion_tokens = 1e300, "
                     "total_tokens = -1, cached_tokens = x'00', estimated_tokens = 'x', latency_ms = -3 "
                     "WHERE id = 1")
        conn.execute("UPDATE model_calls SET prompt_tokens = ?, completion_tokens = ?, total_tokens = ? "
                     "WHERE id > 1", [2**62, 2**62, 2**63 - 1])
    logged = agentcli(["log", "last", "--json"], env=env, cwd=workspace)
    assert logged.code == 0, logged.stderr
    calls = json.loads(logged.stdout)["model_calls"]
    assert [c["prompt_tokens"] for c in calls] == [None, None, None]  # 2^62 is no token count either
    assert calls[0]["completion_tokens"] is None and calls[0]["latency_ms"] is None
    for command in (["show", "last"], ["show", "last", "--json"], ["export", "last"], ["list"],
                    ["log", "last", "--full"]):
        shown = agentcli(command, env=env, cwd=workspace)
        assert shown.code == 0 and "internal error" not in shown.stderr, (command, shown.stderr)
    openai_server.script(text_answer("four"))
    resumed = agentcli(["resume", "last", "-p", "d", "--max-tokens", "1000", *base], env=env, cwd=workspace)
    assert resumed.code == 0 and resumed.stdout.strip() == "four", resumed.stderr

