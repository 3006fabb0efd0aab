"""Where MCP servers are declared (issue 23): config.toml in Codex's shape, .mcp.json in
Claude Code's, --mcp-config, and the trust rule for a workspace's own declarations.

No server is started here (tests/test_mcp.py starts real ones)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentcli.agent.approval import MCP_TOOL, ApprovalAnswer, ApprovalRequest, Approver
from agentcli.agent.config import resolve_settings
from agentcli.agent.mcp.config import ServerConfig, expand, load_servers
from agentcli.agent.mcp.remote import RemoteTool, exposed_name
from agentcli.agent.mcp.results import clip
from agentcli.agent.mcp.tool import McpTool
from agentcli.agent.secrets import shell_environment
from agentcli.agent.tools.registry import resume_policy
from agentcli.errors import UsageError
from agentcli.session.records import Grant

CODEX_STYLE = """
model = "gpt-4o-mini"

[mcp_servers.github]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-github"]
env = { GITHUB_API_URL = "https://api.github.com" }
env_vars = ["GITHUB_PERSONAL_ACCESS_TOKEN"]
startup_timeout_sec = 20
tool_timeout_sec = 120
disabled_tools = ["delete_repository"]

[mcp_servers.github.tools.create_issue]
idempotent = false

[mcp_servers.docs]
url = "https://docs.example.com/mcp"
bearer_token_env_var = "DOCS_TOKEN"
http_headers = { "X-Team" = "core" }
env_http_headers = { "X-Key" = "DOCS_KEY" }

[mcp_servers.off]
command = "off-server"
enabled = false
"""


def user_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_codex_config_reads_as_codex_means_it(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    servers = {s.name: s for s in load_servers(workspace, None, trusted=False,
                                               user_file=user_file(tmp_path, CODEX_STYLE))}
    github, docs, off = servers["github"], servers["docs"], servers["off"]
    assert (github.transport, github.command, github.args) == (
        "stdio", "npx", ["-y", "@modelcontextprotocol/server-github"])
    assert (github.startup_timeout, github.tool_timeout) == (20.0, 120.0)
    assert not github.offers("delete_repository") and github.offers("create_issue")
    assert github.tools["create_issue"].idempotent is False and github.blocked is None
    assert docs.transport == "http" and docs.target == "https://docs.example.com/mcp"
    environ = {"DOCS_TOKEN": "tok-123", "DOCS_KEY": "key-456"}
    assert docs.request_headers(environ) == {"X-Team": "core", "X-Key": "key-456",
                                             "Authorization": "Bearer tok-123"}
    assert set(docs.secrets(environ)) >= {"tok-123", "key-456"}  # never stored or printed
    assert off.blocked and "enabled = false" in off.blocked


def test_the_settings_do_not_call_mcp_servers_an_unknown_key(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    settings = resolve_settings(workspace, {}, environ={}, user_file=user_file(tmp_path, CODEX_STYLE))
    assert settings.warnings == []


def test_a_workspaces_servers_start_only_once_it_is_trusted(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / ".mcp.json").write_text(json.dumps({"mcpServers": {
        "repo-tool": {"type": "stdio", "command": "./tools/serve", "args": ["--fast"],
                      "env": {"A": "${HOME}"}},
        "github": {"command": "evil"},
    }}))
    (workspace / "agentcli.toml").write_text('[mcp_servers.other]\ncommand = "other"\n')
    user = user_file(tmp_path, CODEX_STYLE)
    untrusted = {s.name: s for s in load_servers(workspace, None, trusted=False, user_file=user)}
    assert "not trusted" in (untrusted["repo-tool"].blocked or "")
    assert "not trusted" in (untrusted["other"].blocked or "")
    assert str(workspace / ".mcp.json") in (untrusted["repo-tool"].blocked or "")
    # a declaration a cloned repository makes never replaces the user's own
    assert untrusted["github"].command == "npx" and untrusted["github"].blocked is None
    trusted = {s.name: s for s in load_servers(workspace, None, trusted=True, user_file=user)}
    assert trusted["repo-tool"].blocked is None and trusted["other"].blocked is None
    assert trusted["github"].command == "evil"  # trusted: the workspace's word is the later one


def test_mcp_config_adds_servers_in_either_format(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    as_json = tmp_path / "ci.json"
    as_json.write_text(json.dumps({"mcpServers": {"ci": {"command": "ci-server"}}}))
    as_toml = tmp_path / "ci.toml"
    as_toml.write_text('[mcp_servers.ci]\nurl = "http://127.0.0.1:9/mcp"\n')
    for path, transport in ((as_json, "stdio"), (as_toml, "http")):
        (server,) = load_servers(workspace, str(path), trusted=False, user_file=tmp_path / "none.toml")
        assert (server.name, server.transport, server.blocked) == ("ci", transport, None)
    with pytest.raises(UsageError, match="no such file"):
        load_servers(workspace, str(tmp_path / "missing.json"), trusted=False,
                     user_file=tmp_path / "none.toml")


@pytest.mark.parametrize(("entry", "says"), [
    ('command = 3', "command must be a string"),
    ('command = "x"\nargs = "--flag"', "args must be a list of strings"),
    ('command = "x"\nurl = "http://h/mcp"', "either command"),
    ('args = ["x"]', "either command"),
    ('command = "x"\nstartup_timeout_sec = -1', "startup_timeout_sec must be a positive number"),
    ('command = "x"\nenv = { A = 1 }', "env must be a table of strings"),
    ('command = "x"\ncomand = "y"', "unknown key 'comand'"),
    ('command = "x"\ntype = "sse"', "type 'sse' is not supported"),
    ('command = "x"\n[mcp_servers.bad.tools.t]\nwrites = true', "may set only read_only and idempotent"),
])
def test_a_bad_declaration_is_one_line_naming_the_file_and_the_server(tmp_path: Path, entry: str,
                                                                     says: str) -> None:
    path = user_file(tmp_path, f"[mcp_servers.bad]\n{entry}\n")
    with pytest.raises(UsageError) as caught:
        load_servers(tmp_path, None, trusted=True, user_file=path)
    message = str(caught.value)
    assert str(path) in message and "'bad'" in message and says in message and "\n" not in message


def test_variables_in_values_are_expanded_from_the_environment() -> None:
    environ = {"HOME": "/home/me", "EMPTY": ""}
    assert expand("${HOME}/x", environ) == "/home/me/x"
    assert expand("${MISSING:-fallback} ${EMPTY:-e} ${MISSING}", environ) == "fallback e "


def test_a_server_gets_the_shells_scrubbed_environment_and_what_its_config_names() -> None:
    environ = {"PATH": "/bin", "OPENAI_API_KEY": "sk-1", "GH_TOKEN": "gh-2", "NAMED_TOKEN": "n-3",
               "HOME": "/home/me"}
    server = ServerConfig("s", "config.toml", command="s", env_vars=["NAMED_TOKEN"],
                          env={"WHERE": "${HOME}/data"})
    env = server.environment(shell_environment(environ), environ)
    assert env == {"PATH": "/bin", "HOME": "/home/me", "NAMED_TOKEN": "n-3", "WHERE": "/home/me/data"}


def test_exposed_names_fit_what_chat_completions_accepts() -> None:
    assert exposed_name("git", "git_status", set()) == "git__git_status"
    assert exposed_name("docs", "search.v2", set()) == "docs__search_v2"
    long = exposed_name("server", "t" * 100, set())
    assert len(long) == 64 and long.startswith("server__ttt")
    taken = {"docs__search_v2"}
    assert exposed_name("docs", "search_v2", taken) not in taken


def schema_tool(schema: dict, annotations: dict | None = None) -> McpTool:
    remote = RemoteTool("srv", "tool", "srv__tool", "A tool.", schema, annotations or {})
    return McpTool(None, remote)  # type: ignore[arg-type] - never called here


def test_arguments_are_checked_against_the_servers_schema() -> None:
    tool = schema_tool({"type": "object", "properties": {"n": {"type": "integer", "minimum": 1},
                                                         "mode": {"enum": ["a", "b"]}},
                        "required": ["n"]})
    assert tool.check({"n": 2, "mode": "a"}) == {"n": 2, "mode": "a"}
    assert tool.check({"n": 2, "mode": None}) == {"n": 2}  # null meaning "not given"
    for bad, says in (({"n": "2"}, "'2' is not of type 'integer'"), ({}, "'n' is a required property"),
                      ({"n": 0}, "less than the minimum"), ({"n": 1, "mode": "c"}, "is not one of")):
        with pytest.raises(Exception, match=says) as caught:
            tool.check(bad)
        assert str(caught.value).startswith("srv__tool: the arguments do not fit the tool's schema")


def test_annotations_decide_kind_approval_and_resume() -> None:
    reads = schema_tool({"type": "object"}, {"readOnlyHint": True})
    idempotent = schema_tool({"type": "object"}, {"idempotentHint": True})
    effect = schema_tool({"type": "object"}, {"destructiveHint": True})
    assert (reads.kind, reads.resume) == ("read", "redo")
    assert (idempotent.kind, idempotent.resume) == ("external", "redo")
    assert (effect.kind, effect.resume) == ("external", "interrupt")
    assert [resume_policy(k) for k in ("shell", "edit", "read", "plan", "agent", "external")] == [
        "interrupt", "check", "redo", "redo", "redo", "interrupt"]


def ask(request: ApprovalRequest, answer: str = "always") -> tuple[Approver, list[ApprovalRequest]]:
    asked: list[ApprovalRequest] = []

    def asker(question: ApprovalRequest, cancel: object) -> ApprovalAnswer:
        asked.append(question)
        return ApprovalAnswer(answer)

    return Approver("ask", asker), asked


def test_mcp_calls_are_approved_like_shell_commands_and_always_grants_one_tool() -> None:
    commit = ApprovalRequest("orchestrator", "git__git_commit", "external", "git: git_commit {}",
                             server="git")
    branch = ApprovalRequest("orchestrator", "git__git_checkout", "external", "git: git_checkout {}",
                             server="git")
    status = ApprovalRequest("orchestrator", "git__git_status", "read", "git: git_status {}", server="git")
    for mode, allowed in (("full-auto", True), ("read-only", False), ("auto-edit", False), ("ask", False)):
        assert Approver(mode, None).decide(commit, []).allowed is allowed, mode
        assert Approver(mode, None).decide(status, []).allowed, mode  # a read: allowed everywhere
    assert "MCP tool call needs approval" in Approver("auto-edit", None).decide(commit, []).reason
    approver, asked = ask(commit)
    decision = approver.decide(commit, [])
    assert decision.allowed and decision.grant == Grant(MCP_TOOL, "git__git_commit")
    assert approver.decide(commit, [decision.grant]).how == "granted"
    approver.decide(branch, [decision.grant])
    assert [q.tool for q in asked] == ["git__git_commit", "git__git_checkout"]  # the other tool is asked


def test_a_long_result_keeps_its_head_and_tail() -> None:
    text = "a" * 600 + "b" * 600
    clipped = clip(text, 200)
    assert clipped.startswith("a" * 100) and clipped.endswith("b" * 100)
    assert "1000 characters omitted" in clipped
