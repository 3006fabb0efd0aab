"""End to end: ``agentcli new -p`` against the scripted server, checked on disk and in the file."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from agent_harness import API_KEY, Run, agentcli, rows, session_file, sessions_folder
from openai_answers import error_answer, text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "AGENTS.md").write_text("Always run the tests with python3.\n")
    return root


def run_new(server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], *extra: str,
            prompt: str = "fix calc.py") -> Run:
    return agentcli(["new", prompt, "-p", "--base-url", server.base_url, "--approval", "full-auto",
                     *extra], env=env, cwd=workspace)


def tool_results(request_body: dict) -> list[str]:
    return [m["content"] for m in request_body["messages"] if m["role"] == "tool"]


def test_multi_step_run_is_done_on_disk_and_recorded(openai_server, workspace, env):
    openai_server.script(
        tool_answer(tool_call("update_plan", {"items": [
            {"title": "fix add", "status": "in_progress"}, {"title": "test", "status": "pending"}]})),
        tool_answer(tool_call("write_file", {"path": "test_calc.py", "content":
                                             "from calc import add\nassert add(2, 3) == 5\nprint('ok')\n"})),
        tool_answer(tool_call("run_shell", {"command": "python3 test_calc.py; echo ran >> shell.log"})),
        tool_answer(tool_call("edit_file", {"path": "calc.py", "old_string": "a - b",
                                            "new_string": "a + b"})),
        tool_answer(tool_call("read_file", {"path": "calc.py"}), content="checking"),
        text_answer("Fixed add() in calc.py; the test passes."),
    )
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "Fixed add() in calc.py; the test passes."
    assert (workspace / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert (workspace / "shell.log").read_text() == "ran\n"

    db = session_file(workspace, run.session_id)
    calls = rows(db, "SELECT name, status FROM tool_calls ORDER BY id")
    assert [(c["name"], c["status"]) for c in calls] == [
        ("update_plan", "done"), ("write_file", "done"), ("run_shell", "done"),
        ("edit_file", "done"), ("read_file", "done")]
    audit = rows(db, "SELECT status, model, endpoint_host, latency_ms, total_tokens FROM model_calls")
    assert len(audit) == 6 and all(a["status"] == "ok" for a in audit)
    assert all(a["latency_ms"] is not None and a["total_tokens"] for a in audit)
    assert audit[0]["endpoint_host"] == openai_server.base_url.split("/")[2]
    plan = rows(db, "SELECT title, status FROM tasks WHERE plan_id = (SELECT max(plan_id) FROM tasks)")
    assert [p["title"] for p in plan] == ["fix add", "test"]
    changes = rows(db, "SELECT path, op, source FROM file_changes WHERE status = 'applied' ORDER BY id")
    assert ("test_calc.py", "create", "write_file") in [(c["path"], c["op"], c["source"]) for c in changes]
    assert ("calc.py", "modify", "edit_file") in [(c["path"], c["op"], c["source"]) for c in changes]
    assert ("shell.log", "create", "run_shell") in [(c["path"], c["op"], c["source"]) for c in changes]

    requests = openai_server.requests
    assert len(requests) == 6
    first = requests[0].body
    assert first["messages"][0]["role"] == "system"
    assert "Always run the tests with python3." in first["messages"][0]["content"]
    assert {t["function"]["name"] for t in first["tools"]} == {
        "read_file", "list_files", "search", "write_file", "edit_file", "run_shell", "update_plan", "scout"}
    assert first["stream"] is True
    shell_result = tool_results(requests[3].body)[-1]
    assert "AssertionError" in shell_result  # the test ran before the fix, and failed
    assert "a + b" in tool_results(requests[5].body)[-1]
    for request in requests:
        for message in request.body["messages"]:
            if message["role"] == "assistant" and message.get("tool_calls"):
                assert isinstance(message["content"], str)  # never null: strict servers refuse it
                assert message["content"] in ("", "checking")


def test_the_api_key_never_reaches_the_session_file(openai_server, workspace, env):
    openai_server.script(tool_answer(tool_call("list_files", {})), text_answer("done"))
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert openai_server.requests[0].headers["authorization"] == f"Bearer {API_KEY}"
    folder = sessions_folder(workspace)
    for path in folder.iterdir():
        assert API_KEY.encode() not in path.read_bytes(), path
        assert b"Bearer" not in path.read_bytes()


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (tool_call("read_file", "{not json"), "JSON"),
        (tool_call("delete_everything", {"path": "x"}), "Unknown tool"),
        (tool_call("edit_file", {"path": "calc.py", "old_string": "a - b"}), "new_string"),
        (tool_call("read_file", {"path": 42}), "path"),
        (tool_call("edit_file", {"path": "calc.py", "old_string": "nowhere", "new_string": "x"}),
         "not found"),
    ],
)
def test_malformed_tool_calls_become_error_results(openai_server, workspace, env, call, expected):
    openai_server.script(tool_answer(call), text_answer("recovered"))
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "recovered"
    result = tool_results(openai_server.requests[1].body)[-1]
    assert result.startswith("error") and expected.lower() in result.lower(), result
    db = session_file(workspace, run.session_id)
    assert rows(db, "SELECT status FROM tool_calls")[0]["status"] == "failed"
    assert (workspace / "calc.py").read_text() == "def add(a, b):\n    return a - b\n"


@pytest.mark.parametrize(
    "call",
    [
        tool_call("read_file", {"path": "../outside.txt"}),
        tool_call("write_file", {"path": "../outside.txt", "content": "x"}),
        tool_call("write_file", {"path": "/tmp/agentcli-escape-test.txt", "content": "x"}),
        tool_call("write_file", {"path": ".git/config", "content": "x"}),
        tool_call("write_file", {"path": ".agentcli/sessions/evil.sqlite", "content": "x"}),
        tool_call("write_file", {"path": "link/escaped.txt", "content": "x"}),
        tool_call("list_files", {"path": ".."}),
    ],
)
def test_path_escapes_are_refused(openai_server, workspace, env, tmp_path, call):
    (tmp_path / "outside").mkdir()
    (workspace / "link").symlink_to(tmp_path / "outside")
    (workspace / ".git").mkdir()
    (tmp_path / "outside.txt").write_text("secret")
    openai_server.script(tool_answer(call), text_answer("ok"))
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    result = tool_results(openai_server.requests[1].body)[-1]
    assert result.startswith("error"), result
    assert "secret" not in result
    assert (tmp_path / "outside.txt").read_text() == "secret"
    assert not (tmp_path / "outside" / "escaped.txt").exists()
    assert not (workspace / ".git" / "config").exists()
    assert not Path("/tmp/agentcli-escape-test.txt").exists()


def test_429_then_500_then_success_is_retried_and_audited(openai_server, workspace, env):
    openai_server.script(
        error_answer(429, retry_after=0), error_answer(500), text_answer("third time lucky"))
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "third time lucky"
    db = session_file(workspace, run.session_id)
    audit = rows(db, "SELECT attempt, status, http_status, error FROM model_calls ORDER BY id")
    assert [(a["attempt"], a["status"], a["http_status"]) for a in audit] == [
        (0, "error", 429), (1, "error", 500), (2, "ok", 200)]
    assert audit[0]["error"]


def test_401_exits_3_after_one_request(openai_server, workspace, env):
    openai_server.script(error_answer(401, "Incorrect API key provided"))
    run = run_new(openai_server, workspace, env)
    assert run.code == 3
    assert len(openai_server.requests) == 1
    last_line = run.stderr.strip().splitlines()[-1]
    assert "401" in last_line and "OPENAI_API_KEY" in last_line
    assert "Traceback" not in run.stderr
    assert API_KEY not in run.stderr


def test_unreachable_endpoint_exits_3(workspace, env):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run = agentcli(["new", "hello", "-p", "--base-url", f"http://127.0.0.1:{port}/v1"], env=env,
                   cwd=workspace)
    assert run.code == 3, run.stderr
    assert "cannot connect to 127.0.0.1" in run.stderr and "connection refused" in run.stderr
    assert "Traceback" not in run.stderr


def test_json_events_line_by_line(openai_server, workspace, env):
    openai_server.script(tool_answer(tool_call("read_file", {"path": "calc.py"})), text_answer("read it"))
    run = run_new(openai_server, workspace, env, "--json")
    assert run.code == 0, run.stderr
    events = run.events()
    assert events[0]["type"] == "session.started" and events[0]["session"]
    assert events[-1]["type"] == "session.finished" and events[-1]["status"] == "done"
    assert events[-1]["answer"] == "read it"
    types = [e["type"] for e in events]
    for expected in ("checkpoint.created", "turn.started", "assistant.message", "tool.started",
                     "tool.finished"):
        assert expected in types
    finished = next(e for e in events if e["type"] == "tool.finished")
    assert finished["name"] == "read_file" and finished["status"] == "done"


def test_no_terminal_denies_what_needs_asking_and_exits_6(openai_server, workspace, env):
    openai_server.script(
        tool_answer(tool_call("write_file", {"path": "new.txt", "content": "x"})),
        text_answer("could not write"),
    )
    run = agentcli(["new", "write a file", "-p", "--base-url", openai_server.base_url], env=env,
                   cwd=workspace)
    assert run.code == 6, run.stderr
    assert not (workspace / "new.txt").exists()
    assert "denied" in run.stderr and "new.txt" in run.stderr
    told = tool_results(openai_server.requests[1].body)[-1]
    assert told.startswith("denied") and "no terminal" in told
    db = session_file(workspace, run.session_id)
    assert rows(db, "SELECT status FROM tool_calls")[0]["status"] == "denied"


def test_turn_limit_exits_1(openai_server, workspace, env):
    openai_server.script(*[tool_answer(tool_call("list_files", {})) for _ in range(3)])
    run = run_new(openai_server, workspace, env, "--max-turns", "2")
    assert run.code == 1
    assert "turn limit" in run.stderr
    assert len(openai_server.requests) == 2


def test_prompt_from_stdin_and_usage_errors(openai_server, workspace, env):
    openai_server.script(text_answer("hi"))
    run = agentcli(["new", "-", "--base-url", openai_server.base_url], env=env, cwd=workspace,
                   stdin="say hi\n")
    assert run.code == 0, run.stderr
    assert openai_server.requests[0].body["messages"][-1]["content"] == "say hi\n"

    no_key = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"}
    run = agentcli(["new", "x", "-p"], env=no_key, cwd=workspace)
    assert run.code == 2 and "OPENAI_API_KEY" in run.stderr

    run = agentcli(["new", "x", "-p", "--approval", "sometimes", "--base-url", "http://x"], env=env,
                   cwd=workspace)
    assert run.code == 2 and "approval" in run.stderr


def test_model_flag_and_env_reach_the_request(openai_server, workspace, env):
    openai_server.script(text_answer("a"), text_answer("b"))
    env = {**env, "AGENTCLI_MODEL": "from-env", "OPENAI_BASE_URL": openai_server.base_url}
    assert agentcli(["new", "x", "-p"], env=env, cwd=workspace).code == 0
    assert agentcli(["new", "x", "-p", "--model", "from-flag"], env=env, cwd=workspace).code == 0
    assert [r.body["model"] for r in openai_server.requests] == ["from-env", "from-flag"]


def test_show_and_log_tell_what_happened(openai_server, workspace, env):
    openai_server.script(tool_answer(tool_call("read_file", {"path": "calc.py"})), text_answer("all good"))
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    log = agentcli(["log", run.session_id, "--json"], env=env, cwd=workspace)
    assert log.code == 0, log.stderr
    data = json.loads(log.stdout)
    calls = data["model_calls"] if isinstance(data, dict) else data
    assert len(calls) == 2
    show = agentcli(["show", run.session_id], env=env, cwd=workspace)
    assert show.code == 0 and "all good" in show.stdout and "read_file" in show.stdout


def test_title_comes_from_the_first_prompt(openai_server, workspace, env):
    openai_server.script(text_answer("ok"))
    run = run_new(openai_server, workspace, env, prompt="\n  rename the helper module\nand more")
    assert run.code == 0, run.stderr
    meta = rows(session_file(workspace, run.session_id), "SELECT title FROM meta")[0]
    assert meta["title"] == "rename the helper module"


def test_unknown_config_keys_warn_naming_file_and_key(openai_server, workspace, env):
    (workspace / "agentcli.toml").write_text('sessions_dir = "elsewhere"\nmodle = "typo"\n')
    openai_server.script(text_answer("ok"))
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    toml = workspace / "agentcli.toml"
    assert f"agentcli: warning: {toml}: unknown setting 'sessions_dir' is ignored" in run.stderr
    assert f"agentcli: warning: {toml}: unknown setting 'modle' is ignored" in run.stderr
    assert not (workspace / "elsewhere").exists()


def test_each_retry_is_one_line_saying_why_and_when(openai_server, workspace, env):
    openai_server.script(error_answer(500, "the GPU caught fire"), text_answer("fine now"))
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    retry = [line for line in run.stderr.splitlines() if "retrying" in line]
    assert len(retry) == 1 and "HTTP 500: the GPU caught fire" in retry[0] and "retrying in" in retry[0]


@pytest.mark.parametrize("setting, answer, why", [
    ("idle_timeout = 0.4", {"delay": 3}, "no data from the endpoint for 0.4 s"),
    ("attempt_deadline = 0.6", {"chunk_delay": 0.15}, "the answer took longer than 0.6 s"),
])
def test_a_stalled_or_trickling_endpoint_costs_its_deadline_not_for_ever(
        openai_server, workspace, env, setting, answer, why):
    config = Path(env["XDG_CONFIG_HOME"]) / "agentcli" / "config.toml"
    config.write_text(config.read_text() + f"{setting}\nmax_attempts = 2\n")
    slow = "a long answer that trickles in, one small piece at a time " * 3
    openai_server.script(text_answer(slow, chunk_size=4, **answer), text_answer(slow, chunk_size=4, **answer))
    run = run_new(openai_server, workspace, env)
    assert run.code == 3, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert why in last and "failed after 2 attempts" in last
    db = session_file(workspace, run.session_id)
    assert [r["status"] for r in rows(db, "SELECT status FROM model_calls")] == ["error", "error"]
