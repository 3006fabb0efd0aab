"""``agentcli doctor`` against the local test server, a closed port and a missing key; local servers."""

from __future__ import annotations

import json
import socket

from agent_harness import agentcli, session_file
from openai_answers import text_answer


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_doctor_checks_a_working_endpoint_and_says_where_settings_came_from(openai_server, workspace, env):
    openai_server.models = ["gpt-test", "other"]
    openai_server.script(text_answer("OK"))
    (workspace / "agentcli.toml").write_text("max_turns = 7\n")
    run = agentcli(["doctor", "--base-url", openai_server.base_url, "--model", "gpt-test"],
                   env=env, cwd=workspace)
    assert run.code == 0, run.stdout + run.stderr
    out = run.stdout
    assert "2 listed; 'gpt-test' listed" in out and "tools        accepted" in out
    assert "max_turns        7" in out and str(workspace / "agentcli.toml") in out
    assert "OPENAI_API_KEY is set" in out and env["OPENAI_API_KEY"] not in out
    assert "not trusted" in out and "no problems found" in out
    assert openai_server.requests[0].path == "/v1/models"
    assert openai_server.requests[1].body["tools"][0]["function"]["name"] == "ping"

    report = json.loads(agentcli(["doctor", "--json", "--no-call", "--base-url", openai_server.base_url,
                                  "--model", "gpt-test"], env=env, cwd=workspace).stdout)
    assert report["settings"]["max_turns"] == {"value": 7, "source": str(workspace / "agentcli.toml")}
    assert report["settings"]["model"]["source"] == "flag"
    assert report["key"] == {"variable": "OPENAI_API_KEY", "set": True}
    assert report["sessions"]["writable"] and report["sessions"]["source"] == "default"
    assert report["endpoint"]["model_listed"] is True and "tools" not in report["endpoint"]
    assert report["workspace"]["trusted"] is False and report["exit_code"] == 0


def test_doctor_explains_a_model_the_endpoint_does_not_list(openai_server, workspace, env):
    openai_server.models = ["llama3"]
    run = agentcli(["doctor", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 2
    assert "problem: model 'gpt-4o-mini' is not among the 1 models" in run.stdout and "(llama3)" in run.stdout
    assert all(r.path == "/v1/models" for r in openai_server.requests)  # no request to a missing model


def test_doctor_against_a_closed_port_says_it_cannot_connect(workspace, env):
    port = closed_port()
    run = agentcli(["doctor", "--json", "--base-url", f"http://127.0.0.1:{port}/v1"], env=env, cwd=workspace)
    assert run.code == 3
    report = json.loads(run.stdout)
    assert report["endpoint"]["error"].startswith(f"cannot connect to 127.0.0.1:{port} (connection refused; "
                                                  "1 attempt)")


def test_a_local_server_is_found_named_and_used_with_local(openai_server, workspace, env):
    openai_server.models = ["qwen2.5-coder"]
    port = int(openai_server.base_url.rsplit(":", 1)[1].split("/")[0])
    env = {**env, "AGENTCLI_LOCAL_PORTS": f"{closed_port()},Ollama={port}"}
    del env["OPENAI_API_KEY"]
    refused = agentcli(["new", "hi", "-p"], env=env, cwd=workspace)
    assert refused.code == 2
    assert refused.stderr.strip() == (
        f"agentcli: no API key (OPENAI_API_KEY), but Ollama is running at {openai_server.base_url}: "
        f"use it with --local, or --base-url {openai_server.base_url} --model qwen2.5-coder")
    report = json.loads(agentcli(["doctor", "--json", "--no-call"], env=env, cwd=workspace).stdout)
    assert report["local_servers"] == [{"name": "Ollama", "base_url": openai_server.base_url,
                                        "models": ["qwen2.5-coder"]}]
    assert any("--local" in p for p in report["problems"])

    openai_server.script(text_answer("hello from ollama"))
    run = agentcli(["new", "hi", "-p", "--local"], env=env, cwd=workspace)
    assert run.code == 0 and run.stdout.strip() == "hello from ollama", run.stderr
    assert f"using Ollama at {openai_server.base_url}, model qwen2.5-coder" in run.stderr
    assert openai_server.requests[-1].body["model"] == "qwen2.5-coder"
    (announced,) = [line for line in run.stderr.splitlines() if line.startswith("agentcli: session ")]
    assert session_file(workspace, announced.split()[-1]).is_file()


def test_local_without_a_server_says_where_it_looked(workspace, env):
    env = {**env, "AGENTCLI_LOCAL_PORTS": str(closed_port())}
    run = agentcli(["new", "hi", "-p", "--local"], env=env, cwd=workspace)
    assert run.code == 2 and "--local found no OpenAI-compatible server" in run.stderr


def test_doctor_explains_an_endpoint_without_a_models_route(openai_server, workspace, env):
    openai_server.models = None  # the scripted server then answers GET /v1/models with 404
    run = agentcli(["doctor", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 3
    assert "problem: the endpoint at" in run.stdout and "(404)" in run.stdout and "--base-url" in run.stdout
