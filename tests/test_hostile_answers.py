"""A hostile or broken endpoint (issue 20) never turns into an internal error, a wedged
session or unbounded memory: odd usage counts, endless answers, answers cut at the length
limit, tool calls without an index, duplicate tool-call ids."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from agent_harness import agentcli, rows, session_file
from openai_answers import endless_answer, text_answer, tool_answer, tool_call

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



ENDLESS = {"text": ("content", True), "tool arguments": ("arguments", True), "a line": ("line", True),
           "a JSON body": ("content", False)}


@pytest.mark.parametrize("case", list(ENDLESS))
def test_an_endless_answer_fails_its_attempt_as_too_large(case: str, openai_server, workspace, env):
    kind, stream = ENDLESS[case]
    config = Path(env["XDG_CONFIG_HOME"]) / "agentcli" / "config.toml"
    config.write_text(config.read_text() + f"stream = {'true' if stream else 'false'}\n")
    answer = endless_answer(kind, chunk_size=1 << 16)
    openai_server.script(answer)
    run = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace,
                   timeout=60)
    assert run.code == 3, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert "the answer is too large" in last and "4,000,000 characters" in last, last
    assert "internal error" not in run.stderr
    assert answer.stopped.wait(10)  # agentcli hung up: it reads no further
    assert len(openai_server.requests) == 1  # not retried: it would only go on again
    db = session_file(workspace, run.session_id)
    assert [r["status"] for r in rows(db, "SELECT status FROM model_calls")] == ["error"]
    assert rows(db, "SELECT status FROM prompts") == [{"status": "interrupted"}]  # resumable


def test_an_endless_answer_does_not_grow_memory(openai_server, workspace, env):
    """The process that met an endless answer peaked at a bounded size (measured by a parent
    whose only child it is)."""
    answer = endless_answer("content", chunk_size=1 << 16)
    openai_server.script(answer)
    measure = ("import resource, subprocess, sys; "
               "done = subprocess.run([sys.executable, '-m', 'agentcli', 'new', 'hi', '-p', '--base-url', "
               f"{openai_server.base_url!r}], capture_output=True, timeout=60); "
               "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", measure], env=env, cwd=workspace, capture_output=True,
                         text=True, timeout=90)
    code, peak_kib = (int(v) for v in out.stdout.split())
    assert code == 3, out.stderr
    assert peak_kib < 400 * 1024, f"peak RSS {peak_kib // 1024} MiB"


def test_tool_calls_streamed_without_an_index_are_told_apart(openai_server, workspace, env):
    (workspace / "a.txt").write_text("alpha\n")
    (workspace / "b.txt").write_text("beta\n")
    openai_server.script(tool_answer(tool_call("read_file", {"path": "a.txt"}),
                                     tool_call("read_file", {"path": "b.txt"}), no_index=True, chunk_size=2),
                         text_answer("both read"))
    run = agentcli(["new", "read both", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0 and run.stdout.strip() == "both read", run.stderr
    results = [m["content"] for m in openai_server.requests[1].body["messages"] if m["role"] == "tool"]
    assert len(results) == 2 and "alpha" in results[0] and "beta" in results[1]


def test_duplicate_tool_call_ids_are_made_unique_and_resume_reads_the_same(openai_server, workspace, env):
    """OpenAI answers 400 to a request repeating a tool-call id (so does the scripted server):
    the ids are made unique as the answer is parsed, the same way every time it is read."""
    (workspace / "a.txt").write_text("alpha\n")
    (workspace / "b.txt").write_text("beta\n")
    same = [tool_call("read_file", {"path": "a.txt"}, id="call_1"),
            tool_call("read_file", {"path": "b.txt"}, id="call_1")]
    openai_server.script(tool_answer(*same), text_answer("both read"))
    run = agentcli(["new", "read both", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0 and run.stdout.strip() == "both read", run.stderr
    sent = openai_server.requests[1].body["messages"]
    ids = [c["id"] for c in sent[-3]["tool_calls"]]
    assert ids[0] == "call_1" and len(set(ids)) == 2
    results = [(m["tool_call_id"], "alpha" in m["content"]) for m in sent[-2:]]
    assert results == [(ids[0], True), (ids[1], False)]
    log = agentcli(["log", "last", "--full", "--json"], env=env, cwd=workspace)
    rebuilt = [call["request"] for call in json.loads(log.stdout)["model_calls"]]
    assert [json.dumps(r) for r in rebuilt] == [json.dumps(r.body) for r in openai_server.requests]


def test_an_answer_cut_at_the_length_limit_is_continued_and_joined(openai_server, workspace, env):
    openai_server.script(text_answer("The first half", finish_reason="length"),
                         text_answer(" and the second half.", finish_reason="stop"))
    run = agentcli(["new", "write it", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "The first half and the second half."
    second = openai_server.requests[1].body["messages"]
    assert [m["role"] for m in second[-2:]] == ["assistant", "user"]
    assert second[-2]["content"] == "The first half"
    assert "cut off" in second[-1]["content"] and "length" in second[-1]["content"]
    db = session_file(workspace, run.session_id)
    note = rows(db, "SELECT role, model_call_id FROM messages WHERE role = 'user' ORDER BY id")[-1]
    assert note["model_call_id"] == 1  # a note about call 1, not a prompt
    assert rows(db, "SELECT status FROM prompts") == [{"status": "done"}]
    shown = agentcli(["show", "last"], env=env, cwd=workspace).stdout
    assert "written by agentcli after model call 1" in shown


def test_an_answer_cut_again_and_again_is_taken_after_three_continuations(openai_server, workspace, env):
    openai_server.script(*(text_answer(f"part {n}. ", finish_reason="length") for n in range(1, 6)))
    run = agentcli(["new", "write it", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "part 1. part 2. part 3. part 4."
    assert len(openai_server.requests) == 4
