"""The open tool registry: tools added from outside, only(), limits in the schema text, record."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentcli.agent.approval import Approver
from agentcli.agent.cancel import Cancelled, CancelToken
from agentcli.agent.errors import ToolError
from agentcli.agent.events import Event
from agentcli.agent.history.tracker import Tracker
from agentcli.agent.runner import ToolRunner
from agentcli.agent.tools.arguments import function_schema
from agentcli.agent.tools.registry import (
    READ_ONLY_TOOLS,
    PreparedCall,
    Tool,
    ToolContext,
    ToolLimits,
    ToolOutput,
    ToolRegistry,
    default_registry,
)
from agentcli.agent.workspace.jail import Workspace
from agentcli.session.directory import SessionDirectory
from agentcli.session.records import PlanItem
from agentcli.session.session import Session

BUILTIN = ["read_file", "list_files", "search", "write_file", "edit_file", "run_shell", "update_plan"]


class Echo(Tool):
    """A tool the runner has never heard of: says its text back, louder if asked."""

    name = "echo"
    kind = "read"

    def schema(self) -> dict[str, Any]:
        return function_schema(self.name, "Say the text back.", {
            "text": {"type": "string", "description": "What to say."},
            "times": {"type": "integer", "minimum": 1, "description": "How often (default 1)."},
        }, ["text"])

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        if not args["text"].strip():
            raise ToolError("text is blank; give something to say.")
        said = " ".join([args["text"]] * args.get("times", 1))
        return self.call(args, f"echo {args['text']}", lambda token: ToolOutput(said))


class Broken(Echo):
    """A tool whose action has a bug."""

    name = "broken"

    def schema(self) -> dict[str, Any]:
        return function_schema(self.name, "Fail.", {}, [])

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        return self.call(args, "break", lambda token: {}["missing"])


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    return root


@pytest.fixture
def tools(root: Path) -> ToolRegistry:
    return default_registry(Workspace(root))


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    opened = SessionDirectory(tmp_path / "sessions").create(workspace_root=tmp_path, title="t")
    yield opened
    opened.close()


def test_a_tool_registered_from_outside_is_offered_and_runs(tools: ToolRegistry) -> None:
    before = tools.schemas()
    assert tools.schemas() is before  # one list per tool set: the client encodes it once
    tools.register(Echo())
    assert tools.schemas() is not before and len(tools.schemas()) == len(before) + 1
    assert tools.names == (*BUILTIN, "echo")
    assert tools.schemas()[-1]["function"]["name"] == "echo"
    call = tools.prepare("echo", '{"text": "hi", "times": 2.0}')
    assert (call.tool_name, call.kind, call.summary, call.edits, call.record) == (
        "echo", "read", "echo hi", [], None)
    assert call.execute() == ToolOutput("hi hi")
    with pytest.raises(ToolError, match="echo needs the argument 'text': What to say."):
        tools.prepare("echo", "{}")
    with pytest.raises(ToolError, match="text is blank"):
        tools.prepare("echo", {"text": " "})


def test_unknown_tool_names_the_available_ones(tools: ToolRegistry) -> None:
    with pytest.raises(ToolError, match=r"Unknown tool 'nope'. The tools are: read_file, .*, update_plan\."):
        tools.get("nope")


def test_registering_is_checked(tools: ToolRegistry) -> None:
    with pytest.raises(ValueError, match="'read_file' is already registered"):
        tools.register(default_registry(tools.ctx.workspace).get("read_file"))

    class Odd(Echo):
        kind = "network"

    with pytest.raises(ValueError, match="kind 'network'"):
        tools.register(Odd())
    assert "echo" not in tools.names


def test_only_keeps_the_order_and_the_context(tools: ToolRegistry) -> None:
    scout = tools.only(reversed(READ_ONLY_TOOLS))
    assert scout.names == READ_ONLY_TOOLS and scout.ctx is tools.ctx
    assert "write_file" not in scout.names
    with pytest.raises(ValueError, match="unknown tools"):
        tools.only(["scout"])


def test_schema_text_follows_the_configured_limits(root: Path) -> None:
    limits = ToolLimits(shell_timeout=30, shell_timeout_max=300, read_line_limit=500,
                        list_limit=50, search_match_limit=20)
    text = json.dumps(default_registry(Workspace(root), limits).schemas())
    assert "(default 30, maximum 300)" in text and "600" not in text
    assert "Reads up to 500 lines at a time" in text and "(default and maximum 500)" in text
    assert "cut at 50 files" in text and "at most 20." in text
    defaults = json.dumps(default_registry(Workspace(root)).schemas())
    assert "(default 120, maximum 600)" in defaults and "cut at 1000 files" in defaults


def test_shell_limits_are_enforced_as_described(root: Path) -> None:
    tools = default_registry(Workspace(root), ToolLimits(shell_timeout_max=5, max_command_bytes=10))
    out = tools.prepare("run_shell", '{"command": "true", "timeout": 60}').execute()
    assert out.text == "(no output)\n[exit code: 0] [timeout capped at 5 s]"
    with pytest.raises(ToolError, match="longer than 10 bytes"):
        tools.prepare("run_shell", '{"command": "echo 12345678"}')


def test_execute_turns_a_bug_into_an_error_result(tools: ToolRegistry) -> None:
    tools.register(Broken())
    out = tools.prepare("broken", "").execute()
    assert out.is_error and out.text == "broken failed unexpectedly: KeyError: 'missing'"


def test_cancelled_shell_call_raises_and_returns_promptly(tools: ToolRegistry) -> None:
    token = CancelToken()
    call = tools.prepare("run_shell", '{"command": "sleep 30"}')
    threading.Timer(0.3, token.cancel).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        call.execute(token)
    assert time.monotonic() - started < 5
    token.close()


def test_update_plan_is_an_ordinary_tool_whose_record_stores_the_plan(
    tools: ToolRegistry, session: Session
) -> None:
    items = [{"title": "Read", "status": "done"}, {"title": " Fix ", "status": "in_progress"}]
    call = tools.prepare("update_plan", {"items": items})
    assert call.kind == "plan" and call.record is not None and not tools.get("update_plan").mutates
    output = call.execute()
    assert output.text == "Plan updated:\n[x] Read\n[>] Fix"
    assert session.plan.current() == []  # executing stores nothing: the runner calls record
    with session.transaction():
        call.record(session, 7)
    assert session.plan.current() == [PlanItem("Read", "done"), PlanItem("Fix", "in_progress")]


def test_tools_declare_whether_they_change_the_workspace(tools: ToolRegistry) -> None:
    mutating = [name for name in tools.names if tools.get(name).mutates]
    assert mutating == ["write_file", "edit_file", "run_shell"]
    assert [tools.get(name).kind for name in tools.names] == [
        "read", "read", "read", "edit", "edit", "shell", "plan"]


def test_the_runner_runs_a_new_tool_and_records_the_plan_without_knowing_either(
    root: Path, session: Session
) -> None:
    tools = default_registry(Workspace(root))
    tools.register(Echo())
    events: list[Event] = []
    runner = ToolRunner(session, "orchestrator", tools, Approver("read-only", None), Tracker(session, root),
                        events.append)
    prompt = session.prompts.add("go")
    session.prompts.start(prompt.id)
    calls = [
        {"id": "c1", "type": "function",
         "function": {"name": "echo", "arguments": '{"text": "hi"}'}},
        {"id": "c2", "type": "function", "function": {"name": "update_plan", "arguments": json.dumps(
            {"items": [{"title": "Say hi", "status": "done"}]})}},
    ]
    message = session.transcript.append("assistant", "", prompt_id=prompt.id, tool_calls=calls,
                                        agent="orchestrator")
    assert {"type": "function", "function": tools.get("echo").schema()["function"]} in runner.schemas()
    runner.run_calls(message, prompt.id)
    records = session.tool_calls.for_message(message.id)
    assert [(r.name, r.kind, r.status, r.result) for r in records] == [
        ("echo", "read", "done", "hi"),
        ("update_plan", "plan", "done", "Plan updated:\n[x] Say hi"),
    ]
    assert session.plan.current() == [PlanItem("Say hi", "done")]
