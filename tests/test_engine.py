"""The engine with several agents at once: named agents on threads, cancel, approval requests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai_server import ScriptedOpenAIServer, text_answer
from scripted_model import ScriptedModel, call, say

from agentcli.agent.approval import ApprovalAnswer, ApprovalRequest, Approver
from agentcli.agent.cancel import Cancelled, CancelToken
from agentcli.agent.events import Event
from agentcli.agent.history.tracker import Tracker
from agentcli.agent.loop import AgentLoop, Orchestrator
from agentcli.agent.model.client import ModelClient, ModelSettings
from agentcli.agent.runner import ToolRunner
from agentcli.agent.tools.registry import READ_ONLY_TOOLS, default_registry
from agentcli.agent.workspace.jail import Workspace
from agentcli.session.directory import SessionDirectory
from agentcli.session.records import ORCHESTRATOR
from agentcli.session.session import Session


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.txt").write_text("alpha\n")
    (root / "notes.md").write_text("# notes\n")
    return root


@pytest.fixture
def session(tmp_path: Path, workspace: Path) -> Iterator[Session]:
    opened = SessionDirectory(tmp_path / "sessions").create(workspace_root=workspace, title="t")
    opened.transcript.append("system", "You are the orchestrator.", agent=ORCHESTRATOR)
    yield opened
    opened.close()


def _orchestrator(session: Session, workspace: Path, model: ScriptedModel, events: list[Event],
                  asker=None, mode: str = "full-auto") -> Orchestrator:
    sessions = session.path.parent
    toolbox = default_registry(Workspace(workspace, protected=[sessions]))
    tracker = Tracker(session, workspace, exclude=[sessions], max_file_bytes=1 << 20)
    runner = ToolRunner(session, ORCHESTRATOR, toolbox, Approver(mode, asker), tracker, events.append)
    loop = AgentLoop(session, ORCHESTRATOR, model, runner, events.append, context_window=100_000)
    return Orchestrator(session, loop, tracker, events.append, max_turns=10)


def test_a_second_agent_runs_its_own_loop_on_another_thread(session: Session, workspace: Path) -> None:
    """A read-only agent named scout-1 works on a thread while the orchestrator runs its turn:
    each sees only its own conversation, and no row of one is touched by the other."""
    meet = threading.Barrier(2, timeout=10)  # both agents are mid-request at the same moment
    met = []

    def meet_once() -> None:
        if len(met) < 2:
            met.append(1)
            meet.wait()

    boss = ScriptedModel([call("read_file", json.dumps({"path": "a.txt"}), "o1"), say("a.txt says alpha")],
                         before_answer=meet_once)
    scout = ScriptedModel([call("list_files", "{}", "s1"), say("two files")], name="scout-model",
                          before_answer=meet_once)
    events: list[Event] = []
    orchestrator = _orchestrator(session, workspace, boss, events)
    session.add_prompt("what does a.txt say?")

    scout_workspace = Workspace(workspace, protected=[session.path.parent])
    scout_toolbox = default_registry(scout_workspace).only(READ_ONLY_TOOLS)
    scout_runner = ToolRunner(session, "scout-1", scout_toolbox, Approver("read-only", None), None,
                              events.append)
    scout_loop = AgentLoop(session, "scout-1", scout, scout_runner, events.append, context_window=100_000)
    session.transcript.append("system", "You are a scout.", agent="scout-1")
    session.transcript.append("user", "list the files", agent="scout-1")
    scout_result: list = []
    thread = threading.Thread(target=lambda: scout_result.append(
        scout_loop.run_turn(None, CancelToken(), max_steps=5)))
    thread.start()
    result = orchestrator.run(CancelToken())
    thread.join(10)

    assert result.status == "done" and result.answer == "a.txt says alpha"
    assert scout_result[0].status == "done" and scout_result[0].answer == "two files"
    assert len(met) == 2
    # each model saw only its own agent's conversation
    assert [m["content"] for m in scout.requests[0]] == ["You are a scout.", "list the files"]
    assert all("scout" not in (m.get("content") or "") for r in boss.requests for m in r)
    by_agent = {}
    for m in session.transcript.all():
        by_agent.setdefault(m.agent, []).append(m.role)
    assert by_agent == {ORCHESTRATOR: ["system", "user", "assistant", "tool", "assistant"],
                        "scout-1": ["system", "user", "assistant", "tool", "assistant"]}
    calls = {(c.agent, c.name, c.status) for c in session.tool_calls.all()}
    assert calls == {(ORCHESTRATOR, "read_file", "done"), ("scout-1", "list_files", "done")}
    audit = [(c.agent, c.model, c.status) for c in session.model_calls.all()]
    expected = [(ORCHESTRATOR, "scripted", "ok")] * 2 + [("scout-1", "scout-model", "ok")] * 2
    assert sorted(audit) == sorted(expected)
    assert {e.data.get("agent") for e in events if e.type.startswith(("tool.", "assistant."))} == {
        ORCHESTRATOR, "scout-1"}


def test_close_pending_of_one_agent_leaves_another_agents_call_in_flight(session: Session) -> None:
    mine = session.model_calls.begin(agent="scout-1", model="m", endpoint_host="h", request={},
                                     message_ids=[], attempt=0, prompt_id=None)
    theirs = session.model_calls.begin(agent=ORCHESTRATOR, model="m", endpoint_host="h", request={},
                                       message_ids=[], attempt=0, prompt_id=None)
    assert session.model_calls.close_pending("scout-1", "gone") == 1
    statuses = {c.id: c.status for c in session.model_calls.all()}
    assert statuses == {mine: "interrupted", theirs: "pending"}


def test_a_cancel_stops_a_stalled_model_call_at_once(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(text_answer("too late", delay=20))
    client = ModelClient(ModelSettings(model="m", base_url=openai_server.base_url, api_key="k"))
    token = CancelToken()
    threading.Timer(0.3, token.cancel, args=("test",)).start()
    began = time.monotonic()
    with pytest.raises(Cancelled):
        client.complete([{"role": "user", "content": "hi"}], [], cancel=token)
    assert time.monotonic() - began < 5
    client.close()


def test_a_cancel_mid_turn_is_recorded_and_the_turn_resumes(session: Session, workspace: Path) -> None:
    """Stopped while the model is asked: the turn is interrupted (resumable), the audit row closed,
    and a second run finishes it without asking the answered request again."""
    token = CancelToken()
    boss = ScriptedModel([call("read_file", json.dumps({"path": "a.txt"}), "o1"), say("alpha")],
                         before_answer=lambda: None)
    events: list[Event] = []
    orchestrator = _orchestrator(session, workspace, boss, events)
    session.add_prompt("read a.txt")
    orchestrator.runner.run_calls = _cancel_then(orchestrator.runner.run_calls, token)  # type: ignore[method-assign]
    result = orchestrator.run(token)
    assert result.status == "interrupted" and result.resumable and result.exit_code == 130
    assert session.prompts.all()[0].status == "interrupted"
    again = _orchestrator(session, workspace, boss, events).run(CancelToken())
    assert again.status == "done" and again.answer == "alpha"
    assert len(boss.requests) == 2  # the answered first request was not sent again


def _cancel_then(run_calls, token: CancelToken):
    def wrapped(message, prompt_id, cancel):
        token.cancel("test stop")
        return run_calls(message, prompt_id, cancel)
    return wrapped


def test_a_declined_edit_tells_the_model_the_persons_reason(session: Session, workspace: Path) -> None:
    asked: list[ApprovalRequest] = []

    def asker(request: ApprovalRequest, cancel: CancelToken) -> ApprovalAnswer:
        asked.append(request)
        return ApprovalAnswer("no", "use b.txt instead")

    boss = ScriptedModel([call("write_file", json.dumps({"path": "a.txt", "content": "beta\n"}), "w1"),
                          say("ok")])
    events: list[Event] = []
    session.add_prompt("change a.txt")
    _orchestrator(session, workspace, boss, events, asker=asker, mode="ask").run(CancelToken())
    assert (workspace / "a.txt").read_text() == "alpha\n"
    [request] = asked
    assert (request.agent, request.tool, request.kind) == (ORCHESTRATOR, "write_file", "edit")
    assert [(e.path, e.before, e.after) for e in request.edits] == [("a.txt", b"alpha\n", b"beta\n")]
    result = next(m for m in session.transcript.all() if m.role == "tool").content
    assert result == "denied: the user declined this call: use b.txt instead"
