"""Hygiene: the plan's status words, the plan shown, one outline in exports, one call of the log."""

from __future__ import annotations

import json

from agent_harness import agentcli, rows, session_file
from openai_answers import text_answer, tool_answer, tool_call
from session_factory import writer_process

ANSWER = "# Summary\n\nFixed it.\n\n## Details\n\n```python\n# a comment, not a heading\n```\n"


def test_update_plan_takes_the_words_models_use_and_the_plan_is_shown(openai_server, workspace, env):
    items = [{"title": "read", "status": "completed"}, {"title": "fix", "status": "in-progress"},
             {"title": "test", "status": "In Progress"}, {"title": "ship", "status": "todo"}]
    openai_server.script(tool_answer(tool_call("update_plan", {"items": items})), text_answer("planned"))
    run = agentcli(["new", "plan it", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    db = session_file(workspace, run.session_id)
    stored = rows(db, "SELECT title, status FROM tasks ORDER BY position")
    assert [r["status"] for r in stored] == ["done", "in_progress", "in_progress", "pending"]
    assert "    [x] read\n    [>] fix\n    [>] test\n    [ ] ship\n" in run.stderr
    assert rows(db, "SELECT status FROM tool_calls") == [{"status": "done"}]


def test_export_markdown_nests_the_answers_headings_under_the_transcript(openai_server, workspace, env):
    openai_server.script(text_answer(ANSWER))
    run = agentcli(["new", "fix it", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    doc = agentcli(["export", "last"], env=env, cwd=workspace).stdout
    headings = [line for line in doc.splitlines()
                if line.startswith("#") and not line.startswith("# a comment")]
    assert [h for h in headings if h.startswith("# ")] == [f"# agentcli session {run.session_id}"]
    assert "#### Summary" in headings and "##### Details" in headings
    assert "```python\n# a comment, not a heading\n```" in doc


def test_log_call_selects_one_model_call(openai_server, workspace, env):
    openai_server.script(tool_answer(tool_call("list_files", {})), text_answer("listed"))
    run = agentcli(["new", "list", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    full = agentcli(["log", "last", "--full", "--call", "2"], env=env, cwd=workspace)
    assert full.code == 0
    assert full.stdout.count("=== model call") == 1 and "=== model call 2 " in full.stdout
    assert '"tool_call_id"' in full.stdout  # call 2 was sent the first call's tool result
    lines = full.stdout.splitlines()
    table = lines[1:next(i for i, line in enumerate(lines) if line.startswith("total:"))]
    assert len(table) == 1 and table[0].split()[0] == "2"
    one = json.loads(agentcli(["log", "last", "--json", "--call", "1"], env=env, cwd=workspace).stdout)
    assert [c["id"] for c in one["model_calls"]] == [1]
    missing = agentcli(["log", "last", "--call", "9"], env=env, cwd=workspace)
    assert missing.code == 2 and "no model call 9" in missing.stderr


def test_a_session_held_by_a_process_is_running_in_show_json(capsys, workspace, session_path):
    from session_factory import run_main

    with writer_process(session_path):
        code = run_main(["show", session_path.stem, "--json", "-C", str(workspace)])
    shown = json.loads(capsys.readouterr().out)
    assert code == 0 and shown["status"] == "running" and shown["meta"]["status"] == "idle"
