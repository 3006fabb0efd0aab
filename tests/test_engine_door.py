"""The threshold between the interfaces and the engine (issue 21): each reproduced bug, in order.

The engine is driven here as a client drives it, by operations, against the scripted
server; the terminal ones through the terminal harness; the closed stdout with a real
process (a closed pipe is a process boundary).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_harness import rows, session_file, start
from openai_answers import text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer

from agentcli.agent.engine.engine import Engine
from agentcli.agent.engine.launch import Place, create_session, run_settings
from agentcli.agent.engine.operations import Interrupt, RunPending, SetModel
from agentcli.agent.events import Event
from agentcli.session.directory import SessionDirectory


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    return root.resolve()


@pytest.fixture
def user_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process runs with the test user's config (fast retries) and key."""
    for name in ("XDG_CONFIG_HOME", "OPENAI_API_KEY"):
        monkeypatch.setenv(name, env[name])
    return env


@contextlib.contextmanager
def engine_on(workspace: Path, server: ScriptedOpenAIServer, prompt: str, events: list[Event],
              tools: tuple[Any, ...] = (), **flags: Any) -> Iterator[Engine]:
    """An engine over a new session of ``workspace``; closed (threads joined) afterwards."""
    place = Place(workspace, SessionDirectory(workspace / ".agentcli" / "sessions",
                                              state_dir=workspace / ".agentcli"))
    settings = run_settings(place, {"base_url": server.base_url, "approval": "full-auto", **flags})
    session = create_session(place, settings, prompt, "argument")
    engine = Engine(session, settings, place, sink=events.append, interactive=False, tools=tools)
    try:
        yield engine
    finally:
        engine.close()
        session.close()


def _threads(prefix: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix) and t.is_alive()]


# -- C: an interrupt before the first byte closes the connection ---------------------------
def test_an_interrupt_before_the_first_byte_closes_the_connection(openai_server, workspace, user_env):
    """A one-slot local server must not go on working for nobody: the socket is shut at once."""
    late = text_answer("too late", delay=30)
    openai_server.script(late)
    events: list[Event] = []
    with engine_on(workspace, openai_server, "hello", events) as engine:
        engine.submit(RunPending())
        openai_server.wait_for_requests(1, timeout=10)
        engine.submit(Interrupt("test", resumable=True))
        assert late.hung_up.wait(3), "the server never saw the connection close"
        result = engine.wait(10)
        assert result is not None and result.status == "interrupted" and result.resumable
        assert not _threads("agentcli-model-reader")
        db = engine.facts.meta().id
    assert [r["status"] for r in rows(session_file(workspace, db), "SELECT status FROM model_calls")] == [
        "interrupted"]


# -- D: a fan-out dropped by Ctrl-C is settled ---------------------------------------------
def test_a_dropped_fan_out_leaves_nothing_queued_pending_or_running(openai_server, workspace, user_env):
    openai_server.script(
        tool_answer(tool_call("scout", {"tasks": ["TASK-A", "TASK-B", "TASK-C"]}),
                    tool_call("read_file", {"path": "calc.py"}), match="fan out"),
        text_answer("report A", match="TASK-A", delay=20),
    )
    events: list[Event] = []
    with engine_on(workspace, openai_server, "fan out", events, scouts=1) as engine:
        engine.submit(RunPending())
        openai_server.wait_for_requests(2, timeout=10)  # the first scout asks; two wait queued
        engine.submit(Interrupt("Ctrl-C", resumable=False))
        result = engine.wait(10)
        assert result is not None and result.status == "interrupted" and not result.resumable
        session_id = engine.facts.meta().id
    db = session_file(workspace, session_id)
    assert {r["status"] for r in rows(db, "SELECT status FROM scouts")} == {"interrupted"}
    assert not rows(db, "SELECT id FROM tool_calls WHERE status = 'running'")
    assert not rows(db, "SELECT id FROM compactions WHERE status = 'pending'")
    calls = rows(db, "SELECT name, status FROM tool_calls WHERE agent = 'orchestrator' ORDER BY position")
    assert calls == [{"name": "scout", "status": "interrupted"},
                     {"name": "read_file", "status": "interrupted"}]
    answered = {r["tool_call_id"] for r in rows(db, "SELECT tool_call_id FROM messages WHERE role = 'tool'")}
    assert len(answered) == 2  # every call the model made has its result
    assert [r["status"] for r in rows(db, "SELECT status FROM prompts")] == ["cancelled"]


# -- F: /model with a budget, and the scouts follow it -------------------------------------
def test_set_model_under_a_budget_reaches_the_orchestrator_and_its_scouts(openai_server, workspace,
                                                                         user_env):
    openai_server.script(
        tool_answer(tool_call("scout", {"tasks": ["TASK-A"]}), match="survey"),
        text_answer("report A", match="TASK-A"),
        text_answer("surveyed", match="## Scout 1: "),
    )
    events: list[Event] = []
    with engine_on(workspace, openai_server, "survey", events, max_tokens=10**6, max_cost=5.0) as engine:
        engine.submit(SetModel("gpt-4.1"))
        engine.submit(SetModel("no-such-price-model"))  # --max-cost needs a price: refused, in one event
        engine.submit(RunPending())
        result = engine.wait(20)
        assert result is not None and result.status == "done", result
    assert {r.body["model"] for r in openai_server.requests} == {"gpt-4.1"}
    assert len(openai_server.requests) == 3
    failed = [e.data for e in events if e.type == "operation.failed"]
    assert len(failed) == 1
    assert "--max-cost needs the price of model 'no-such-price-model'" in failed[0]["message"]
    assert [e.data["model"] for e in events if e.type == "model.changed"] == ["gpt-4.1"]


def test_slash_model_in_a_terminal_started_with_a_budget(openai_server, workspace, user_env):
    """The terminal's /model used to crash with 'BudgetedModel' object has no attribute 'settings'."""
    from terminal_harness import TerminalHarness

    openai_server.script(text_answer("hello from 4.1"), text_answer("hello from 4o"))
    with TerminalHarness(workspace, openai_server, approval="full-auto",
                         flags={"max_tokens": 100000}) as term:
        term.type("/model gpt-4.1\r")  # before the first prompt: the session it starts uses it
        term.expect("the session your first prompt starts uses it")
        term.type("say hello\r")
        term.expect("hello from 4.1")
        term.type("/model gpt-4o\r")  # the live engine's model, behind the budget
        term.expect("model is now gpt-4o for this session")
        term.type("again\r")
        term.expect("hello from 4o")
        term.wait_idle()
        term.type("/exit\r")
        term.finish()
    assert [r.body["model"] for r in openai_server.requests] == ["gpt-4.1", "gpt-4o"]


# -- A: the status line's deque, read while a chatty command writes it ---------------------
def test_the_live_tail_can_be_drawn_while_a_chatty_command_fills_it():
    import io

    from rich.console import Console

    from agentcli.cli.terminal.view import TerminalView

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        view = TerminalView(Console(file=io.StringIO(), width=80))
        view(Event("tool.started", {"id": "c1", "name": "run_shell", "arguments": '{"command": "yes"}'}))
        done = threading.Event()

        def chatter() -> None:
            while not done.is_set():
                view(Event("tool.output", {"text": "y\n" * 3}))

        writer = threading.Thread(target=chatter)
        writer.start()
        try:
            for _ in range(20000):
                view.activity_lines()
        finally:
            done.set()
            writer.join()
    finally:
        sys.setswitchinterval(previous)


# -- B: the type-ahead line failing closes the engine before the session --------------------
def test_a_failing_type_ahead_line_stops_the_agent_before_the_session_closes(openai_server, workspace,
                                                                            user_env):
    from terminal_harness import TerminalHarness

    slow = text_answer("never shown", delay=20)
    openai_server.script(slow)
    term = TerminalHarness(workspace, openai_server, approval="full-auto",
                           ahead_error=OSError(5, "Input/output error"))
    with pytest.raises(OSError, match="Input/output error"), term:
        term.type("take your time\r")
        term.thread.join(10)
        assert not term.thread.is_alive()
    assert not _threads("agentcli-turn") and not _threads("agentcli-engine")
    db = session_file(workspace, term.session.id)
    assert [r["status"] for r in rows(db, "SELECT status FROM prompts")] == ["interrupted"]
    assert {r["status"] for r in rows(db, "SELECT status FROM model_calls")} <= {"interrupted"}


# -- H: a closed stdout stops the run; nothing is recorded failed ------------------------------
@pytest.mark.slow
def test_a_closed_stdout_in_json_mode_stops_the_run_resumably(openai_server, workspace, env):
    openai_server.script(
        tool_answer(tool_call("scout", {"tasks": ["TASK-A", "TASK-B"]}), match="survey"),
        text_answer("report A", match="TASK-A", delay=1.0),
        text_answer("report B", match="TASK-B", delay=1.0),
    )
    proc = start(["new", "survey", "-p", "--json", "--approval", "full-auto", "--base-url",
                  openai_server.base_url], env=env, cwd=workspace)
    assert proc.stdout is not None and proc.stderr is not None
    first = json.loads(proc.stdout.readline())
    assert first["type"] == "session.started"
    openai_server.wait_for_requests(2, timeout=20)
    proc.stdout.close()  # the reader went away (`| head -1`)
    proc.wait(30)
    stderr = proc.stderr.read()
    assert proc.returncode == 1, stderr
    assert "the output closed" in stderr and "agentcli resume" in stderr
    db = session_file(workspace, first["session"])
    assert not rows(db, "SELECT id FROM scouts WHERE status = 'failed'")
    assert not rows(db, "SELECT id FROM tool_calls WHERE status = 'failed'")
    assert [r["status"] for r in rows(db, "SELECT status FROM prompts")] == ["interrupted"]


# -- errors split: the store's failure is never the model's tool result ---------------------
def test_a_storage_failure_inside_a_tool_stops_the_run_instead_of_telling_the_model(
        openai_server, workspace, user_env):
    from agentcli.agent.tools.arguments import function_schema
    from agentcli.agent.tools.registry import Tool

    class Journal(Tool):
        name, kind = "journal", "read"

        def schema(self) -> dict[str, Any]:
            return function_schema("journal", "Write a line in the session's journal.", {}, [])

        def prepare(self, args: dict[str, Any], ctx: Any) -> Any:
            def broken(token: Any) -> Any:
                raise sqlite3.OperationalError("database or disk is full")
            return self.call(args, "journal", broken)

    openai_server.script(tool_answer(tool_call("journal", {})), text_answer("never asked"))
    events: list[Event] = []
    with engine_on(workspace, openai_server, "write it down", events, tools=(Journal(),)) as engine:
        engine.submit(RunPending())
        result = engine.wait(20)
        assert result is not None and result.status == "failed" and result.reason == "fatal"
        assert isinstance(engine.fatal, sqlite3.OperationalError)
        session_id = engine.facts.meta().id
    assert len(openai_server.requests) == 1  # the model was not told "journal failed"
    db = session_file(workspace, session_id)
    assert rows(db, "SELECT status FROM tool_calls") == [{"status": "running"}]  # resume reconciles it
    assert not rows(db, "SELECT id FROM messages WHERE role = 'tool'")
