"""Tokens become money where a price is known, and a budget ends a run cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agent_harness import agentcli, rows, session_file
from openai_answers import text_answer, tool_answer, tool_call

from agentcli.agent.pricing import Pricing, dollars
from agentcli.errors import UsageError

USAGE = {"prompt_tokens": 1_000_000, "completion_tokens": 100_000, "total_tokens": 1_100_000}


def test_prices_come_from_the_table_and_the_config():
    pricing = Pricing({"local-coder": {"input": 1, "output": 2}, "gpt-4o": {"input": 5, "output": 20}})
    mini = pricing.cost("gpt-4o-mini", prompt_tokens=1_000_000, completion_tokens=1_000_000)
    assert mini == pytest.approx(0.75)
    assert pricing.price("gpt-4o-mini-2024-07-18") == pricing.price("openai/gpt-4o-mini")
    assert pricing.cost("gpt-4o", prompt_tokens=1_000_000, completion_tokens=0) == 5  # the config wins
    assert pricing.cost("local-coder", prompt_tokens=500_000, completion_tokens=0) == 0.5
    assert pricing.cost("mystery", prompt_tokens=1, completion_tokens=1) is None
    cached = pricing.cost("gpt-4.1", prompt_tokens=1_000_000, completion_tokens=0, cached_tokens=1_000_000)
    assert cached == pytest.approx(0.50)  # cached prompt tokens at the cached price
    assert pricing.total([{"model": "mystery", "prompt_tokens": 0, "completion_tokens": 0}]) == 0
    assert dollars(0.01234) == "$0.0123" and dollars(12.5) == "$12.50" and dollars(None) == ""
    with pytest.raises(UsageError, match="prices.bad"):
        Pricing({"bad": {"input": 1}})


def test_log_show_and_the_finished_event_say_what_the_session_cost(openai_server, workspace, env):
    openai_server.script(tool_answer(tool_call("list_files", {}), usage=USAGE),
                         text_answer("done", usage=USAGE))
    run = agentcli(["new", "look", "--json", "--model", "gpt-4o-mini", "--base-url", openai_server.base_url],
                   env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    expected = 2 * (0.15 + 0.1 * 0.60)  # two calls of 1M prompt and 100k completion tokens
    assert run.events()[-1]["totals"]["cost_usd"] == pytest.approx(expected)

    log = agentcli(["log", "last"], env=env, cwd=workspace)
    assert "COST" in log.stdout.splitlines()[0] and "$0.2100" in log.stdout
    assert log.stdout.strip().splitlines()[-1].endswith(f"ms · {dollars(expected)}")
    logged = json.loads(agentcli(["log", "last", "--json"], env=env, cwd=workspace).stdout)
    assert logged["totals"]["cost_usd"] == pytest.approx(expected)
    assert logged["model_calls"][0]["cost_usd"] == pytest.approx(0.21)
    shown = agentcli(["show", "last"], env=env, cwd=workspace)
    assert dollars(expected) in shown.stdout
    exported = agentcli(["export", "last"], env=env, cwd=workspace)
    assert dollars(expected) in exported.stdout


def test_a_model_priced_in_the_user_config_gets_a_cost(openai_server, workspace, env):
    config = Path(env["XDG_CONFIG_HOME"]) / "agentcli" / "config.toml"
    config.write_text(config.read_text() + '[prices."local-coder"]\ninput = 2\noutput = 4\n')
    openai_server.script(text_answer("hi", usage=USAGE))
    run = agentcli(["new", "hi", "-p", "--model", "local-coder", "--base-url", openai_server.base_url],
                   env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert "$2.40" in agentcli(["log", "last"], env=env, cwd=workspace).stdout


def test_a_token_budget_stops_the_run_resumably_and_resume_goes_on(openai_server, workspace, env):
    small = {"prompt_tokens": 600, "completion_tokens": 10, "total_tokens": 610}
    openai_server.script(
        tool_answer(tool_call("list_files", {}), usage=small),
        tool_answer(tool_call("list_files", {}), usage=small),
        text_answer("all listed", usage=small),
    )
    base = ["--base-url", openai_server.base_url]
    run = agentcli(["new", "list twice", "--json", "--max-tokens", "1000", *base], env=env, cwd=workspace)
    assert run.code == 1, run.stderr
    finished = run.events()[-1]
    assert finished["status"] == "failed" and finished["reason"] == "budget"
    assert "token budget spent: this run used 1220 tokens (--max-tokens 1000)" in finished["error"]
    assert f"agentcli resume {finished['session']}" in finished["error"]
    assert len(openai_server.requests) == 2  # the third request was never sent
    db = session_file(workspace, finished["session"])
    assert rows(db, "SELECT status FROM prompts") == [{"status": "interrupted"}]

    again = agentcli(["resume", "last", "-p", *base], env=env, cwd=workspace)
    assert again.code == 0 and again.stdout.strip() == "all listed", again.stderr


def test_a_cost_budget_needs_a_known_price(openai_server, workspace, env):
    run = agentcli(["new", "hi", "-p", "--model", "mystery", "--max-cost", "1", "--base-url",
                    openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 2 and "prices" in run.stderr and "--max-tokens" in run.stderr
    assert openai_server.requests == []


def test_a_cost_budget_stops_a_run(openai_server, workspace, env):
    openai_server.script(tool_answer(tool_call("list_files", {}), usage=USAGE), text_answer("x", usage=USAGE))
    run = agentcli(["new", "hi", "-p", "--model", "gpt-4o", "--max-cost", "0.5", "--base-url",
                    openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 1
    assert "cost budget spent: this run used $3.50 (--max-cost 0.5)" in run.stderr.splitlines()[-1]


def test_a_bad_value_names_the_file_it_came_from(openai_server, workspace, env):
    (workspace / "agentcli.toml").write_text('max_turns = "many"\n')
    run = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 2
    assert run.stderr.strip() == f"agentcli: {workspace / 'agentcli.toml'}: max-turns must be a whole number"


def test_scouts_spend_the_one_budget_and_queued_ones_stop_once_it_is_spent(openai_server, workspace, env):
    """Scouts' requests count against --max-tokens like the orchestrator's: once the budget is
    spent no scout sends another request, the queued ones stop as they start, the run ends
    resumably, and resume (with a larger budget) finishes the fan-out where it stopped."""
    used = {"prompt_tokens": 590, "completion_tokens": 10, "total_tokens": 600}
    tasks = ["TASK-A", "TASK-B", "TASK-C", "TASK-D"]
    openai_server.script(
        tool_answer(tool_call("scout", {"tasks": tasks}), usage={**used, "prompt_tokens": 90}),
        tool_answer(tool_call("list_files", {}), usage=used, match="TASK-A"),
        text_answer("report A", usage=used, match="TASK-A"),
    )
    base = ["--base-url", openai_server.base_url, "--scouts", "1"]
    run = agentcli(["new", "look around", "--json", "--max-tokens", "1000", *base], env=env, cwd=workspace)
    assert run.code == 1, run.stderr
    finished = run.events()[-1]
    assert finished["reason"] == "budget" and "token budget spent" in finished["error"]
    assert len(openai_server.requests) == 3  # 100 + 600 < 1000 before scout A's second request; none after
    db = session_file(workspace, finished["session"])
    scouts = rows(db, "SELECT status, error FROM scouts ORDER BY position")
    assert [s["status"] for s in scouts] == ["done", "interrupted", "interrupted", "interrupted"]
    assert all("stopped by the run's budget: token budget spent" in s["error"] for s in scouts[1:])
    assert rows(db, "SELECT status FROM tool_calls WHERE name = 'scout'") == [{"status": "running"}]

    for task in tasks[1:]:
        openai_server.script(text_answer(f"report {task[-1]}", usage=used, match=task))
    openai_server.script(text_answer("all four reported", match="## Scout 1: "))
    again = agentcli(["resume", "last", "-p", "--max-tokens", "100000", *base], env=env, cwd=workspace)
    assert again.code == 0 and again.stdout.strip() == "all four reported", again.stderr
    assert len(openai_server.requests) == 3 + 3 + 1  # scout A is never asked again
    assert [s["status"] for s in rows(db, "SELECT status FROM scouts ORDER BY position")] == ["done"] * 4
    result = [m for m in openai_server.requests[-1].body["messages"] if m["role"] == "tool"][-1]["content"]
    assert result.startswith("4 scouts: 4 done.") and "report D" in result


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_cost_budget_that_is_not_a_number_of_dollars_is_refused(value, openai_server, workspace, env):
    run = agentcli(["new", "hi", "-p", "--model", "gpt-4o", "--max-cost", value, "--base-url",
                    openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 2, run.stderr
    assert run.stderr.strip() == f"agentcli: max-cost must be a number of dollars more than 0, not {value}"
    assert openai_server.requests == []
    config = Path(env["XDG_CONFIG_HOME"]) / "agentcli" / "config.toml"
    for line in (f"max_cost = {value}\n", "max_tokens = inf\n"):  # TOML has nan and inf too
        config.write_text("retry_max_wait = 0.01\n" + line)
        again = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
        assert again.code == 2 and "internal error" not in again.stderr, again.stderr
        assert again.stderr.count("\n") == 1 and str(config) in again.stderr
