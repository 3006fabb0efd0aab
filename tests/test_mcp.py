"""MCP tools against real servers (issue 23): ``mcp-server-time`` and ``mcp-server-git`` from
PyPI, which nobody here wrote, and ``tests/mcp_servers/effects.py``, written with the SDK's
server side, whose calls leave lines in a log file (so a call sent twice shows).

The model is the scripted Chat Completions server; agentcli runs in-process, or as a real
process where it must be killed. Nothing is mocked.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agent_harness import agentcli, rows, session_file, start
from openai_answers import text_answer, tool_answer, tool_call
from processes import alive, gone_within

pytestmark = pytest.mark.slow

EFFECTS = Path(__file__).with_name("mcp_servers") / "effects.py"


def configure(env: dict[str, str], text: str) -> None:
    """Add ``text`` to the user's config.toml of the runs using ``env``."""
    path = Path(env["XDG_CONFIG_HOME"]) / "agentcli" / "config.toml"
    path.write_text(path.read_text() + text)


def time_server(name: str = "time") -> str:
    return f"""
[mcp_servers.{name}]
command = "{sys.executable}"
args = ["-m", "mcp_server_time", "--local-timezone", "UTC"]
startup_timeout_sec = 60
"""


def git_server(repo: Path) -> str:
    return f"""
[mcp_servers.git]
command = "{sys.executable}"
args = ["-m", "mcp_server_git", "--repository", "{repo}"]
startup_timeout_sec = 60
"""


def effects_server(log: Path, name: str = "fx", more: str = "") -> str:
    return f"""
[mcp_servers.{name}]
command = "{sys.executable}"
args = ["{EFFECTS}"]
env = {{ EFFECTS_LOG = "{log}" }}
startup_timeout_sec = 60  # a loaded CI machine starts Python slowly
{more}
"""


def run_args(server, *extra: str, approval: str = "full-auto") -> list[str]:
    return ["-p", "--base-url", server.base_url, "--approval", approval, *extra]


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def server_pids(log: Path) -> list[int]:
    return [int(line.split()[1]) for line in lines(log) if line.startswith("pid ")]


def tool_results(request) -> list[str]:
    return [m["content"] for m in request.body["messages"] if m["role"] == "tool"]


def wait_for(predicate, seconds: float = 30.0, what: str = "it") -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"{what} never happened"
        time.sleep(0.05)


# -- real servers from PyPI --------------------------------------------------------------------

def test_the_tools_of_real_servers_are_offered_and_a_call_returns_the_servers_answer(
        openai_server, workspace, env, tmp_path):
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    configure(env, time_server() + git_server(repo))
    openai_server.script(
        tool_answer(tool_call("time__get_current_time", {"timezone": "Europe/Paris"}),
                    tool_call("git__git_status", {"repo_path": str(repo)})),
        text_answer("it is late"),
    )
    run = agentcli(["new", "what time is it?", *run_args(openai_server), "--json"], env=env, cwd=workspace)
    assert run.code == 0, run.stderr

    offered = {t["function"]["name"]: t["function"] for t in openai_server.requests[0].body["tools"]}
    assert {"time__get_current_time", "time__convert_time", "git__git_status",
            "git__git_commit"} <= set(offered)
    assert offered["time__get_current_time"]["parameters"]["required"] == ["timezone"]  # the server's schema
    time_result, git_result = tool_results(openai_server.requests[1])
    assert json.loads(time_result)["timezone"] == "Europe/Paris"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0[12]:00", json.loads(time_result)["datetime"])
    assert "On branch" in git_result or "No commits yet" in git_result

    events = run.events()
    started = [e for e in events if e["type"] == "tool.started"]
    assert [(e["name"], e.get("server")) for e in started] == [("time__get_current_time", "time"),
                                                               ("git__git_status", "git")]
    finished = [e for e in events if e["type"] == "tool.finished"]
    assert all(e["status"] == "done" and e["server"] and e["duration_ms"] is not None for e in finished)
    db = session_file(workspace, run.session_id)
    calls = rows(db, "SELECT name, server, kind, resume, status, data, duration_ms FROM tool_calls "
                     "ORDER BY id")
    assert [(c["name"], c["server"], c["kind"], c["resume"], c["status"]) for c in calls] == [
        ("time__get_current_time", "time", "read", "redo", "done"),
        ("git__git_status", "git", "read", "redo", "done")]
    assert json.loads(calls[0]["data"]) == {"tool": "get_current_time"} and calls[0]["duration_ms"] >= 0
    lists = rows(db, "SELECT server, tool_count, changes FROM mcp_tools ORDER BY id")
    assert [(r["server"], r["changes"]) for r in lists] == [("time", None), ("git", None)]
    assert lists[0]["tool_count"] == 2

    shown = agentcli(["show", run.session_id], env=env, cwd=workspace)
    assert "time__get_current_time" in shown.stdout and "ms" in shown.stdout
    exported = json.loads(agentcli(["export", run.session_id, "--format", "json"], env=env,
                                   cwd=workspace).stdout)
    assert [c["server"] for c in exported["tool_calls"]] == ["time", "git"]


def test_a_bad_argument_is_an_error_result_and_is_never_sent(openai_server, workspace, env, tmp_path):
    log = tmp_path / "effects.log"
    configure(env, time_server() + effects_server(log))
    openai_server.script(
        tool_answer(tool_call("time__get_current_time", {"timezone": 5}),
                    tool_call("fx__slow_effect", {"seconds": "soon", "tag": "bad"}),
                    tool_call("time__get_current_time", {"timezone": "Nowhere/Atlantis"})),
        text_answer("sorry"),
    )
    run = agentcli(["new", "go", *run_args(openai_server)], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    schema_error, effect_error, server_error = tool_results(openai_server.requests[1])
    assert schema_error.startswith("error: ") and "5 is not of type 'string'" in schema_error
    assert "'soon' is not of type 'number'" in effect_error
    assert "start bad" not in lines(log)  # checked before anything was sent
    assert "Nowhere/Atlantis" in server_error  # the server's own refusal, as an error result
    db = session_file(workspace, run.session_id)
    assert [r["status"] for r in rows(db, "SELECT status FROM tool_calls ORDER BY id")] == [
        "failed", "failed", "failed"]


# -- crashes, resume, lifecycle -------------------------------------------------------------------

def kill_during(openai_server, workspace, env, log: Path, call) -> tuple[list[int], str]:
    """Start a scripted run whose first call is ``call``, SIGKILL agentcli once the server
    logged its start; return the server pids and the session id."""
    openai_server.script(tool_answer(call))
    proc = start(["new", "do it", *run_args(openai_server)], env=env, cwd=workspace)
    try:
        wait_for(lambda: any(line.startswith("start ") for line in lines(log)), what="the call")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    session = proc.stderr.read().splitlines()[0].split()[-1]
    return server_pids(log), session


def test_kill_9_during_a_call_with_effects_then_resume_reports_it_interrupted_and_never_resends_it(
        openai_server, workspace, env, tmp_path):
    log = tmp_path / "effects.log"
    configure(env, effects_server(log))
    pids, session = kill_during(openai_server, workspace, env, log,
                                tool_call("fx__slow_effect", {"seconds": 60, "tag": "once"}))
    assert pids and all(gone_within(pid, 10) for pid in pids), "the MCP server outlived agentcli"

    openai_server.script(text_answer("I will check before doing it again"))
    run = agentcli(["resume", session, *run_args(openai_server)], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert [line for line in lines(log) if not line.startswith("pid ")] == ["start once"]  # sent once
    told = tool_results(openai_server.requests[-1])[-1]
    assert "interrupted" in told and "may have happened" in told
    db = session_file(workspace, session)
    (call,) = rows(db, "SELECT status, resume, kind FROM tool_calls")
    assert call == {"status": "interrupted", "resume": "interrupt", "kind": "external"}
    assert all(gone_within(pid, 10) for pid in server_pids(log))  # the resumed run's server too


def test_kill_9_during_an_idempotent_call_then_resume_sends_it_again(openai_server, workspace, env, tmp_path):
    log = tmp_path / "effects.log"
    configure(env, effects_server(log))
    _pids, session = kill_during(openai_server, workspace, env, log,
                                 tool_call("fx__slow_idempotent", {"seconds": 2, "tag": "again"}))
    openai_server.script(text_answer("done"))
    run = agentcli(["resume", session, *run_args(openai_server)], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    effects = [line for line in lines(log) if not line.startswith("pid ")]
    assert effects.count("start again") == 2 and effects[-1] == "end again"
    assert tool_results(openai_server.requests[-1])[-1] == "slept 2 s (again)"
    db = session_file(workspace, session)
    assert rows(db, "SELECT status, resume FROM tool_calls") == [{"status": "done", "resume": "redo"}]


def test_a_crashing_server_is_restarted_once_then_its_tools_answer_with_an_error(
        openai_server, workspace, env, tmp_path):
    log = tmp_path / "effects.log"
    configure(env, effects_server(log))
    who = tool_call("fx__whoami", {"variables": []})
    openai_server.script(*(tool_answer(call) for call in (
        tool_call("fx__crash"), who, tool_call("fx__crash"), tool_call("fx__whoami", {"variables": []}))),
        text_answer("the server is gone"))
    run = agentcli(["new", "go", *run_args(openai_server)], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    results = [tool_results(request)[-1] for request in openai_server.requests[1:]]
    assert "stopped during this call, so it may or may not have happened" in results[0]
    assert results[1].startswith("(MCP server fx had stopped and was started again)\npid ")
    assert "already restarted once" in results[2]
    assert results[3].startswith("error: MCP server fx is stopped") and "already restarted once" in results[3]
    assert "exited with status 3" in results[3]  # from the server's log
    assert len(server_pids(log)) == 2
    assert all(gone_within(pid, 10) for pid in server_pids(log))
    log_file = workspace / ".agentcli" / "mcp" / "fx.log"
    assert "effects server" in log_file.read_text()  # stderr went to the log, not to agentcli's


def test_no_server_outlives_a_finished_session_nor_a_sigterm(openai_server, workspace, env, tmp_path):
    log = tmp_path / "effects.log"
    configure(env, effects_server(log))
    openai_server.script(text_answer("nothing to do"))
    assert agentcli(["new", "hi", *run_args(openai_server)], env=env, cwd=workspace).code == 0
    (pid,) = server_pids(log)
    assert gone_within(pid, 5)

    openai_server.script(tool_answer(tool_call("fx__slow_effect", {"seconds": 60, "tag": "term"})))
    proc = start(["new", "do it", *run_args(openai_server)], env=env, cwd=workspace)
    wait_for(lambda: "start term" in lines(log), what="the call")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 130
    assert all(gone_within(pid, 10) for pid in server_pids(log))
    session = proc.stderr.read().splitlines()[0].split()[-1]
    (call,) = rows(session_file(workspace, session), "SELECT status, result FROM tool_calls")
    assert call["status"] == "interrupted" and "may have happened" in call["result"]


def test_an_untrusted_workspaces_server_is_not_started_until_it_is_trusted(openai_server, workspace, env,
                                                                          tmp_path):
    log = tmp_path / "effects.log"
    (workspace / ".mcp.json").write_text(json.dumps({"mcpServers": {"repo": {
        "command": sys.executable, "args": [str(EFFECTS)], "env": {"EFFECTS_LOG": str(log)},
        "startup_timeout_sec": 60}}}))
    openai_server.script(text_answer("ok"))
    run = agentcli(["new", "hi", *run_args(openai_server)], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert "MCP server repo not started" in run.stderr and "not trusted" in run.stderr
    assert not log.exists()  # never ran
    offered = [t["function"]["name"] for t in openai_server.requests[0].body["tools"]]
    assert not any(name.startswith("repo__") for name in offered)
    listed = json.loads(agentcli(["mcp", "list", "--json"], env=env, cwd=workspace).stdout)
    assert [(s["name"], s["status"]) for s in listed["servers"]] == [("repo", "blocked")]
    assert not log.exists()

    assert agentcli(["trust", str(workspace)], env=env, cwd=workspace).code == 0
    openai_server.script(text_answer("ok"))
    run = agentcli(["new", "hi", *run_args(openai_server)], env=env, cwd=workspace)
    assert run.code == 0 and "not started" not in run.stderr
    assert "repo__whoami" in {t["function"]["name"] for t in openai_server.requests[-1].body["tools"]}


def test_approvals_ask_for_calls_with_effects_and_allow_reads(openai_server, workspace, env, tmp_path):
    log = tmp_path / "effects.log"
    configure(env, effects_server(log))
    openai_server.script(
        tool_answer(tool_call("fx__whoami", {"variables": []}),
                    tool_call("fx__slow_effect", {"seconds": 0, "tag": "asked"})),
        text_answer("done"),
    )
    run = agentcli(["new", "go", *run_args(openai_server, approval="read-only")], env=env, cwd=workspace)
    assert run.code == 6, run.stderr  # a scripted run whose policy denied a call
    read, denied = tool_results(openai_server.requests[1])
    assert read.startswith("pid ") and denied.startswith("denied: ")
    assert "start asked" not in lines(log)
    assert "fx: slow_effect" in run.stderr and "--approval full-auto allows it" in run.stderr


def test_a_server_that_changed_its_tools_between_runs_is_noticed_and_said(openai_server, workspace, env,
                                                                         tmp_path):
    log = tmp_path / "effects.log"
    configure(env, effects_server(log))
    openai_server.script(text_answer("ok"))
    first = agentcli(["new", "hi", *run_args(openai_server)], env=env, cwd=workspace)
    assert first.code == 0 and "changed its tools" not in first.stderr
    openai_server.script(text_answer("ok"))
    again = agentcli(["resume", first.session_id, "more", *run_args(openai_server)],
                     env={**env, "EFFECTS_EXTRA": "1"}, cwd=workspace)
    assert again.code == 0, again.stderr
    assert "MCP server fx changed its tools since this session last ran: added extra" in again.stderr
    db = session_file(workspace, first.session_id)
    lists = rows(db, "SELECT tool_count, changes FROM mcp_tools ORDER BY id")
    assert [r["tool_count"] for r in lists] == [7, 8]
    assert json.loads(lists[1]["changes"]) == {"added": ["extra"], "removed": [], "changed": []}


def test_what_a_tool_writes_in_the_workspace_is_logged_and_rolled_back(openai_server, workspace, env,
                                                                       tmp_path):
    configure(env, effects_server(tmp_path / "effects.log"))
    openai_server.script(tool_answer(tool_call("fx__write_note", {"path": "note.txt", "text": "hello"})),
                         text_answer("written"))
    run = agentcli(["new", "write", *run_args(openai_server)], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert (workspace / "note.txt").read_text() == "hello"
    db = session_file(workspace, run.session_id)
    assert rows(db, "SELECT path, op, source FROM file_changes") == [
        {"path": "note.txt", "op": "create", "source": "fx__write_note"}]
    assert agentcli(["rollback", run.session_id], env=env, cwd=workspace).code == 0
    assert not (workspace / "note.txt").exists()


def test_the_environment_is_scrubbed_except_what_the_config_names(openai_server, workspace, env, tmp_path):
    configure(env, effects_server(tmp_path / "effects.log", more='env_vars = ["NAMED_TOKEN"]'))
    asked = ["OPENAI_API_KEY", "GH_TOKEN", "NAMED_TOKEN", "EFFECTS_LOG"]
    openai_server.script(tool_answer(tool_call("fx__whoami", {"variables": asked})), text_answer("ok"))
    run = agentcli(["new", "env", *run_args(openai_server)],
                   env={**env, "GH_TOKEN": "gh-secret-value", "NAMED_TOKEN": "named-secret-value"},
                   cwd=workspace)
    assert run.code == 0, run.stderr
    (result,) = tool_results(openai_server.requests[1])
    given = dict(re.findall(r"\('(\w+)', '([^']*)'\)", result))
    assert set(given) == {"NAMED_TOKEN", "EFFECTS_LOG"}
    assert given["NAMED_TOKEN"] == "***"  # it reached the server, but its value is never stored
    db = session_file(workspace, run.session_id)
    assert "named-secret-value" not in json.dumps(rows(db, "SELECT result FROM tool_calls"))


def test_scouts_are_offered_the_read_only_tools(openai_server, workspace, env, tmp_path):
    configure(env, effects_server(tmp_path / "effects.log"))
    openai_server.script(tool_answer(tool_call("scout", {"tasks": ["who serves?"]})),
                         tool_answer(tool_call("fx__whoami", {"variables": []})),
                         text_answer("a server"), text_answer("the scout says: a server"))
    run = agentcli(["new", "ask a scout", *run_args(openai_server)], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    scout_tools = {t["function"]["name"] for t in openai_server.requests[1].body["tools"]}
    assert {"fx__whoami", "fx__picture", "read_file"} <= scout_tools
    assert not scout_tools & {"fx__slow_effect", "fx__write_note", "fx__crash", "write_file", "run_shell"}
    assert tool_results(openai_server.requests[2])[-1].startswith("pid ")


def test_streamable_http_servers_are_reached_with_their_headers(openai_server, workspace, env, tmp_path):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "effects.log"
    server = subprocess.Popen([sys.executable, str(EFFECTS), "--http", str(port)],
                              env={**os.environ, "EFFECTS_LOG": str(log)}, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: server_pids(log), what="the HTTP server's start")
        time.sleep(0.5)
        configure(env, f'[mcp_servers.web]\nurl = "http://127.0.0.1:{port}/mcp"\n'
                       'bearer_token_env_var = "WEB_TOKEN"\nstartup_timeout_sec = 60\n')
        openai_server.script(tool_answer(tool_call("web__slow_idempotent", {"seconds": 0, "tag": "http"}),
                                         tool_call("web__authorization")),
                             text_answer("ok"))
        run = agentcli(["new", "go", *run_args(openai_server)], env={**env, "WEB_TOKEN": "t0k3n-value"},
                       cwd=workspace)
        assert run.code == 0, run.stderr
        # the bearer token was sent, and is written as *** wherever agentcli keeps or sends it
        assert tool_results(openai_server.requests[1]) == ["slept 0 s (http)", "authorization: ***"]
        assert "end http" in lines(log)
        assert alive(server.pid)  # a server agentcli did not start is not agentcli's to stop
    finally:
        server.terminate()
        server.wait(10)


def test_mcp_list_shows_servers_tools_and_annotations(workspace, env, tmp_path):
    configure(env, time_server() + effects_server(tmp_path / "effects.log", more=(
        'disabled_tools = ["crash"]\n[mcp_servers.fx.tools.slow_effect]\nidempotent = true\n')) + """
[mcp_servers.broken]
command = "no-such-mcp-server-here"
""")
    listed = agentcli(["mcp", "list"], env=env, cwd=workspace)
    assert listed.code == 0, listed.stderr
    text = listed.stdout
    assert "time  running  2 tools" in text and "time__get_current_time  [read-only, idempotent]" in text
    assert "fx__slow_effect  [destructive, idempotent = true (config)]" in text
    assert "fx__crash  [no annotations]  not offered" in text
    assert "broken  failed" in text and "command 'no-such-mcp-server-here' not found" in text
    document = json.loads(agentcli(["mcp", "list", "--json"], env=env, cwd=workspace).stdout)
    servers = {s["name"]: s for s in document["servers"]}
    tools = {t["name"]: t for t in servers["fx"]["tools"]}
    assert tools["slow_effect"]["overrides"] == {"idempotent": True}
    assert tools["slow_effect"]["resumed"] == "re-sent"
    assert tools["whoami"]["annotations"] == {"readOnlyHint": True} and tools["whoami"]["approval"] == "read"
    assert servers["broken"]["status"] == "failed"

    doctor = json.loads(agentcli(["doctor", "--json", "--no-call"], env=env, cwd=workspace).stdout)
    found = {s["name"]: s for s in doctor["mcp_servers"]}
    assert found["time"]["status"] == "running" and found["time"]["tools"] == 2
    assert found["broken"]["error"] and any("MCP server broken" in p for p in doctor["problems"])


def test_at_the_terminal_a_call_is_asked_with_its_arguments_always_grants_that_tool_and_mcp_lists_them(
        openai_server, workspace, tmp_path, monkeypatch):
    from terminal_harness import TerminalHarness

    config = tmp_path / "config"
    (config / "agentcli").mkdir(parents=True)
    log = tmp_path / "effects.log"
    (config / "agentcli" / "config.toml").write_text("retry_max_wait = 0.01\n" + effects_server(log))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    first = tool_call("fx__slow_effect", {"seconds": 0, "tag": "one"})
    second = tool_call("fx__slow_effect", {"seconds": 0, "tag": "two"})
    openai_server.script(tool_answer(first), tool_answer(second),
                         tool_answer(tool_call("fx__write_note", {"path": "n.txt", "text": "x"})),
                         text_answer("all three"))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("go\r")
        screen = term.expect("a always allow fx__slow_effect (this tool of MCP server fx only)")
        assert "fx__slow_effect wants to call MCP server fx with:" in screen and '"tag": "one"' in screen
        term.keys("a")
        term.expect("fx__write_note wants to call MCP server fx")  # the other tool is asked again
        term.keys("n")
        term.expect("all three")
        term.type("/mcp\r")
        screen = term.expect("fx__picture")
        assert "fx  running  7 tools" in screen and "fx__whoami  [read-only]" in screen
        term.type("/exit\r")
        term.finish()
    assert [line for line in lines(log) if line.startswith("start")] == ["start one", "start two"]
    assert rows(session_file(workspace, term.session.id), "SELECT kind, pattern FROM approvals") == [
        {"kind": "mcp_tool", "pattern": "fx__slow_effect"}]


# -- the hub alone (the same real server, no model) ------------------------------------------------

def effects_hub(tmp_path: Path, **config):
    from agentcli.agent.mcp.config import ServerConfig
    from agentcli.agent.mcp.hub import McpHub
    from agentcli.agent.secrets import shell_environment

    log = tmp_path / "effects.log"
    server = ServerConfig("fx", "test", command=sys.executable, args=[str(EFFECTS)],
                          env={"EFFECTS_LOG": str(log)}, **config)
    return McpHub([server], workspace_root=tmp_path, log_dir=tmp_path / "logs",
                  base_env=shell_environment(os.environ)), log


def test_timeouts_of_a_start_and_of_a_call_are_reported(tmp_path):
    hub, _log = effects_hub(tmp_path, startup_timeout=0.05)
    hub.start()
    try:
        (state,) = hub.states()
        assert state.status == "failed" and state.error == "did not start within 0.05 s (startup_timeout_sec)"
    finally:
        hub.close()
    hub, log = effects_hub(tmp_path, startup_timeout=60, tool_timeout=0.5)
    hub.start()
    try:
        slow = next(t for t in hub.states()[0].tools if t.name == "slow_effect")
        output = hub.call(slow, {"seconds": 5, "tag": "late"})
        assert output.is_error and "did not answer within 0.5 s (tool_timeout_sec of fx)" in output.text
    finally:
        hub.close()
    assert all(gone_within(pid, 10) for pid in server_pids(log))


def test_a_cancelled_call_returns_at_once(tmp_path):
    import threading

    from agentcli.agent.cancel import Cancelled, CancelToken

    hub, log = effects_hub(tmp_path, startup_timeout=60)
    hub.start()
    try:
        slow = next(t for t in hub.states()[0].tools if t.name == "slow_effect")
        token = CancelToken()

        def press_ctrl_c() -> None:
            wait_for(lambda: "start stop" in lines(log), what="the call")
            token.cancel("Ctrl-C")

        threading.Thread(target=press_ctrl_c, daemon=True).start()
        began = time.monotonic()
        with pytest.raises(Cancelled):
            hub.call(slow, {"seconds": 30, "tag": "stop"}, token)
        assert time.monotonic() - began < 10
    finally:
        hub.close()
    assert all(gone_within(pid, 10) for pid in server_pids(log))


def test_a_command_given_as_a_path_is_found_where_the_server_starts(tmp_path):
    from agentcli.agent.mcp.config import ServerConfig
    from agentcli.agent.mcp.hub import McpHub
    from agentcli.agent.secrets import shell_environment

    (tmp_path / "tools").mkdir()
    script = tmp_path / "tools" / "serve"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} {EFFECTS}\n")
    script.chmod(0o755)
    hub = McpHub([ServerConfig("local", "test", command="./tools/serve", startup_timeout=60),
                  ServerConfig("gone", "test", command="./tools/absent")],
                 workspace_root=tmp_path, log_dir=None, base_env=shell_environment(os.environ))
    hub.start()
    try:
        local, gone = hub.states()
        assert local.status == "running" and len(local.tools) == 7
        assert gone.status == "failed"
        assert gone.error == "command './tools/absent' not found (on the PATH it gets)"
    finally:
        hub.close()
