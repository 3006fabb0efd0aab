"""Calls that only read run at once; a call that may change something waits for them.

The reads here meet at a barrier: they can only pass it if they run at the same time, so
a runner that took them one by one would time the barrier out. Against the in-process
scripted model (``tests/scripted_model.py``).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from scripted_model import ScriptedModel, say

from agentcli.agent.approval import Approver
from agentcli.agent.cancel import CancelToken
from agentcli.agent.history.tracker import Tracker
from agentcli.agent.loop import AgentLoop, Orchestrator
from agentcli.agent.runner import ToolRunner
from agentcli.agent.tools.arguments import function_schema
from agentcli.agent.tools.base import Tool, ToolOutput
from agentcli.agent.tools.registry import default_registry
from agentcli.agent.workspace.jail import Workspace
from agentcli.session.directory import SessionDirectory
from agentcli.session.records import ORCHESTRATOR


class Meeting(Tool):
    """A read that waits at a barrier until ``parties`` reads stand there together."""

    name, kind, mutates = "meet", "read", False

    def __init__(self, parties: int, order: list[str]):
        super().__init__()
        self.barrier = threading.Barrier(parties, timeout=5)
        self.order = order

    def schema(self) -> dict[str, Any]:
        return function_schema(self.name, "Meet the others.", {"who": {"type": "string"}}, ["who"])

    def prepare(self, args: dict[str, Any], ctx: Any) -> Any:
        def meet(token: Any) -> ToolOutput:
            self.barrier.wait()  # BrokenBarrierError (an error result) unless they run at once
            self.order.append(f"met {args['who']}")
            return ToolOutput(f"{args['who']} met the others")
        return self.call(args, f"meet {args['who']}", meet)


def _calls(*calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """One answer making several tool calls."""
    return {"content": "", "tool_calls": [
        {"id": f"c{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        for n, (name, args) in enumerate(calls)]}


@pytest.fixture
def setup(tmp_path: Path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.txt").write_text("alpha\n")
    session = SessionDirectory(tmp_path / "sessions").create(workspace_root=root, title="t")
    session.transcript.append("system", "You are the orchestrator.", agent=ORCHESTRATOR)
    yield root, session
    session.close()


def _run(root: Path, session: Any, model: ScriptedModel, tool: Tool) -> None:
    sessions = session.path.parent
    toolbox = default_registry(Workspace(root, protected=[sessions]))
    toolbox.register(tool)
    tracker = Tracker(session, root, exclude=[sessions], max_file_bytes=1 << 20)
    runner = ToolRunner(session, ORCHESTRATOR, toolbox, Approver("full-auto", None), tracker, lambda e: None)
    loop = AgentLoop(session, ORCHESTRATOR, model, runner, lambda e: None, context_window=100_000)
    session.add_prompt("meet")
    orchestrator = Orchestrator(session, loop, tracker, lambda e: None, max_turns=5)
    assert orchestrator.run(CancelToken()).status == "done"


def test_reads_of_one_answer_run_at_once_and_their_results_keep_the_models_order(setup) -> None:
    root, session = setup
    order: list[str] = []
    model = ScriptedModel([_calls(("meet", {"who": "ann"}), ("read_file", {"path": "a.txt"}),
                                  ("meet", {"who": "bob"}), ("meet", {"who": "cy"})), say("all met")])
    _run(root, session, model, Meeting(3, order))
    results = [m for m in model.requests[1] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in results] == ["c0", "c1", "c2", "c3"]
    assert [m["content"] for m in results if m["tool_call_id"] != "c1"] == [
        "ann met the others", "bob met the others", "cy met the others"]
    calls = session.tool_calls.all()
    assert [c.status for c in calls] == ["done"] * 4 and [c.position for c in calls] == [0, 1, 2, 3]


def test_a_call_that_may_change_something_waits_for_the_reads_before_it(setup) -> None:
    root, session = setup
    order: list[str] = []
    model = ScriptedModel([_calls(("meet", {"who": "ann"}), ("meet", {"who": "bob"}),
                                  ("write_file", {"path": "b.txt", "content": "written\n"}),
                                  ("read_file", {"path": "b.txt"})), say("done")])
    _run(root, session, model, Meeting(2, order))
    results = {m["tool_call_id"]: m["content"] for m in model.requests[1] if m["role"] == "tool"}
    assert results["c0"] == "ann met the others" and results["c1"] == "bob met the others"
    assert "written" in results["c3"]  # the read after the write saw it: the write did not run beside it
    assert sorted(order) == ["met ann", "met bob"]
