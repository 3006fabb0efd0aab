"""Scouts (SPEC §4): the scout tool end to end against the scripted server, and the fan-out engine.

Scripted answers for concurrent scouts are told apart by ``match``: each task carries a
tag (``TASK-A``) that only its scout's requests contain. The orchestrator's final answer
matches the first heading of the scout result ("## Scout 1: "), which no scout sees.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_harness import Run, agentcli, rows, session_file
from openai_answers import error_answer, text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer
from scripted_model import ScriptedModel, call, say

from agentcli.agent.cancel import CancelToken
from agentcli.agent.events import Event, serialized
from agentcli.agent.model.client import ModelClient, ModelSettings
from agentcli.agent.model.gate import RateGate
from agentcli.agent.scouts import ScoutFanout, ScoutSettings, clip
from agentcli.agent.tools.registry import default_registry
from agentcli.agent.tools.scout import ScoutTool
from agentcli.agent.workspace.jail import Workspace
from agentcli.session.directory import SessionDirectory
from agentcli.session.records import ORCHESTRATOR
from agentcli.session.session import Session

SCOUT_TOOLS = {"read_file", "list_files", "search"}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "calc.py").write_text("def add(a, b):\n    return a + b  # the one true adder\n")
    (root / "README.md").write_text("# calc\n")
    return root


def fan_out(*tasks: str, prompt: str = "PROMPT") -> object:
    """The orchestrator's first answer: one scout call with ``tasks``."""
    return tool_answer(tool_call("scout", {"tasks": list(tasks)}), match=prompt)


def summary(text: str = "surveyed") -> object:
    """The orchestrator's answer once the scout result is in."""
    return text_answer(text, match="## Scout 1: ")


def run_new(server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], *extra: str,
            prompt: str = "PROMPT survey the code") -> Run:
    return agentcli(["new", prompt, "-p", "--base-url", server.base_url, *extra], env=env, cwd=workspace)


def scout_result(server: ScriptedOpenAIServer) -> str:
    """The scout tool result in the orchestrator's last request."""
    last = server.requests[-1].body["messages"]
    return next(m["content"] for m in reversed(last) if m["role"] == "tool")


def requests_with(server: ScriptedOpenAIServer, tag: str) -> list[dict]:
    return [r.body for r in server.requests
            if any(tag in (m.get("content") or "") for m in r.body["messages"])]


def test_reports_come_back_in_task_order_and_scouts_run_at_once(openai_server, workspace, env):
    openai_server.script(
        fan_out("TASK-A: slowest", "TASK-B: middle", "TASK-C: fastest"),
        text_answer("report A", match="TASK-A", delay=0.9),
        text_answer("report B", match="TASK-B", delay=0.6),
        text_answer("report C", match="TASK-C", delay=0.3),
        summary(),
    )
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "surveyed"

    result = scout_result(openai_server)
    assert result.index("report A") < result.index("report B") < result.index("report C")
    assert result.startswith("3 scouts: 3 done.")
    assert "## Scout 1: TASK-A: slowest" in result
    db = session_file(workspace, run.session_id)
    scouts = rows(db, "SELECT * FROM scouts ORDER BY position")
    assert [(s["agent"], s["status"], s["report"]) for s in scouts] == [
        ("scout-1-1", "done", "report A"), ("scout-1-2", "done", "report B"),
        ("scout-1-3", "done", "report C")]
    # at once: the three 0.3-0.9 s calls overlap, so the fan-out takes about the slowest
    fanout_ms = rows(db, "SELECT duration_ms FROM tool_calls WHERE name = 'scout'")[0]["duration_ms"]
    assert 900 <= fanout_ms < 1700
    # each scout is its own conversation: system prompt + its task, nothing of the orchestrator's
    first = requests_with(openai_server, "TASK-A")[0]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert first["messages"][1]["content"] == "TASK-A: slowest"
    # ... and its transcript never enters the orchestrator's context
    orchestrator_requests = [r.body for r in openai_server.requests
                             if r.body["messages"][0]["content"].startswith("You are agentcli")]
    assert len(orchestrator_requests) == 2
    assert not any("You are a scout" in (m.get("content") or "")
                   for r in orchestrator_requests for m in r["messages"])
    # every scout model call is audited under the scout's name and model
    audit = rows(db, "SELECT agent, model, status FROM model_calls ORDER BY id")
    assert sorted(a["agent"] for a in audit) == ["orchestrator", "orchestrator", "scout-1-1", "scout-1-2",
                                                 "scout-1-3"]
    messages = rows(db, "SELECT agent, role FROM messages WHERE agent = 'scout-1-2' ORDER BY id")
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]


def test_a_scout_reads_a_file_and_quotes_it(openai_server, workspace, env):
    openai_server.script(
        fan_out("TASK-R: what does calc.py add?"),
        tool_answer(tool_call("read_file", {"path": "calc.py"}), match="TASK-R"),
        text_answer('calc.py line 2 says: "return a + b  # the one true adder"', match="one true adder"),
        summary(),
    )
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    second = requests_with(openai_server, "TASK-R")[1]
    assert second["messages"][-1]["role"] == "tool"
    assert "return a + b  # the one true adder" in second["messages"][-1]["content"]
    assert 'calc.py line 2 says: "return a + b  # the one true adder"' in scout_result(openai_server)
    db = session_file(workspace, run.session_id)
    calls = rows(db, "SELECT agent, name, status FROM tool_calls ORDER BY id")
    assert calls == [{"agent": "orchestrator", "name": "scout", "status": "done"},
                     {"agent": "scout-1-1", "name": "read_file", "status": "done"}]
    assert rows(db, "SELECT steps FROM scouts")[0]["steps"] == 2


def test_one_failing_scout_reports_in_its_slot_and_the_others_go_on(openai_server, workspace, env):
    openai_server.script(
        fan_out("TASK-A: fine", "TASK-B: broken endpoint", "TASK-C: step limit"),
        text_answer("report A", match="TASK-A", delay=0.2),
        error_answer(400, "this model cannot do that", match="TASK-B"),
        tool_answer(tool_call("list_files", {}), match="TASK-C"),
        summary(),
    )
    run = run_new(openai_server, workspace, env, "--scout-steps", "1")
    assert run.code == 0, run.stderr
    result = scout_result(openai_server)
    assert "3 scouts: 1 done, 2 failed." in result or "3 scouts: 2 failed, 1 done." in result
    a, b, c = result.split("## Scout ")[1:]
    assert "report A" in a
    assert "[failed" in b and "error:" in b and "this model cannot do that" in b
    assert "[failed · 1 step]" in c and "step limit reached: 1 model calls" in c
    db = session_file(workspace, run.session_id)
    assert [s["status"] for s in rows(db, "SELECT status FROM scouts ORDER BY position")] == [
        "done", "failed", "failed"]


def test_scouts_are_offered_no_write_tools_and_cannot_use_them(openai_server, workspace, env):
    openai_server.script(
        fan_out("TASK-W: try to write"),
        tool_answer(tool_call("write_file", {"path": "evil.txt", "content": "x"}), match="TASK-W"),
        text_answer("could not write", match="Unknown tool"),
        summary(),
    )
    run = run_new(openai_server, workspace, env, "--approval", "full-auto")
    assert run.code == 0, run.stderr
    first = requests_with(openai_server, "TASK-W")[0]
    assert {t["function"]["name"] for t in first["tools"]} == SCOUT_TOOLS  # depth 1: no scout either
    assert not (workspace / "evil.txt").exists()
    second = requests_with(openai_server, "TASK-W")[1]
    assert "Unknown tool 'write_file'" in second["messages"][-1]["content"]


def test_scout_depth_two_lets_scouts_send_scouts(openai_server, workspace, env):
    openai_server.script(
        fan_out("TASK-P: parent"),
        tool_answer(tool_call("scout", {"tasks": ["TASK-K: child"]}), match="TASK-P"),
        text_answer("child report", match="TASK-K"),
        text_answer("parent report", match="child report"),
        summary(),
    )
    run = run_new(openai_server, workspace, env, "--scout-depth", "2", "--scouts", "1")
    assert run.code == 0, run.stderr
    parent, child = requests_with(openai_server, "TASK-P")[0], requests_with(openai_server, "TASK-K")[0]
    assert {t["function"]["name"] for t in parent["tools"]} == SCOUT_TOOLS | {"scout"}
    assert {t["function"]["name"] for t in child["tools"]} == SCOUT_TOOLS
    db = session_file(workspace, run.session_id)
    scouts = rows(db, "SELECT agent, parent_agent, depth, status FROM scouts ORDER BY id")
    assert scouts == [
        {"agent": "scout-1-1", "parent_agent": "orchestrator", "depth": 1, "status": "done"},
        {"agent": "scout-2-1", "parent_agent": "scout-1-1", "depth": 2, "status": "done"}]
    assert "parent report" in scout_result(openai_server)


def test_more_tasks_than_slots_queue_and_start_as_slots_free(openai_server, workspace, env):
    tags = [f"TASK-{n}" for n in range(5)]
    openai_server.script(fan_out(*[f"{tag}: look" for tag in tags]),
                         *[text_answer(f"report {tag}", match=tag, delay=0.4) for tag in tags], summary())
    run = run_new(openai_server, workspace, env, "--scouts", "2", "--json")
    assert run.code == 0, run.stderr
    arrivals = sorted(r.received_at for r in openai_server.requests
                      if r.body["messages"][0]["content"].startswith("You are a scout"))
    assert len(arrivals) == 5
    # never more than two in flight: any three arrivals span at least one 0.4 s answer
    assert all(arrivals[i + 2] - arrivals[i] >= 0.35 for i in range(3))
    events = run.events()
    started = [e for e in events if e["type"] == "scout.started"]
    finished = [e for e in events if e["type"] == "scout.finished"]
    assert sorted(e["id"] for e in started) == [f"scout-1-{n}" for n in range(1, 6)]
    assert all(e["status"] == "done" and e["steps"] == 1 and e["duration_ms"] >= 400 for e in finished)
    assert {"id", "task", "status", "steps", "duration_ms"} <= set(finished[0])
    assert not any(e["type"] == "scout.progress" for e in events)
    kinds = [e["type"] for e in events]
    assert kinds.index("scouts.started") < kinds.index("scout.started")
    assert kinds.index("scouts.finished") > max(i for i, k in enumerate(kinds) if k == "scout.finished")
    result = scout_result(openai_server)
    positions = [result.index(f"report {tag}") for tag in tags]
    assert positions == sorted(positions)


def test_scout_model_is_used_and_logged_with_each_agent(openai_server, workspace, env):
    openai_server.script(fan_out("TASK-M: quick look"), text_answer("cheap report", match="TASK-M"),
                         summary())
    run = run_new(openai_server, workspace, env, "--model", "big-model", "--scout-model", "small-model")
    assert run.code == 0, run.stderr
    assert requests_with(openai_server, "TASK-M")[0]["model"] == "small-model"
    assert openai_server.requests[0].body["model"] == "big-model"
    db = session_file(workspace, run.session_id)
    audit = {(a["agent"], a["model"]) for a in rows(db, "SELECT agent, model FROM model_calls")}
    assert audit == {("orchestrator", "big-model"), ("scout-1-1", "small-model")}
    assert rows(db, "SELECT model FROM scouts")[0]["model"] == "small-model"
    assert json.loads(rows(db, "SELECT settings FROM meta")[0]["settings"])["scout_model"] == "small-model"
    log = agentcli(["log", run.session_id], env=env, cwd=workspace)
    assert "scout-1-1" in log.stdout and "small-model" in log.stdout and "big-model" in log.stdout


def test_print_mode_shows_a_line_per_scout_start_and_finish(openai_server, workspace, env):
    openai_server.script(fan_out("TASK-A: a", "TASK-B: b"), text_answer("ra", match="TASK-A"),
                         text_answer("rb", match="TASK-B"), summary())
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    lines = run.stderr.splitlines()
    assert sum("scout scout-1-" in line and " started: " in line for line in lines) == 2
    assert sum("scout scout-1-" in line and " done · 1 step · " in line for line in lines) == 2


def test_show_scouts_and_one_scouts_transcript_and_export(openai_server, workspace, env):
    openai_server.script(
        fan_out("TASK-R: read calc", "TASK-S: say hi"),
        tool_answer(tool_call("read_file", {"path": "calc.py"}), match="TASK-R"),
        text_answer("calc adds", match="one true adder"),
        text_answer("hi there", match="TASK-S"),
        summary(),
    )
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    listed = agentcli(["show", run.session_id, "--scouts"], env=env, cwd=workspace)
    assert listed.code == 0
    assert "scout-1-1" in listed.stdout and "TASK-R: read calc" in listed.stdout
    assert "2 steps" in listed.stdout
    one = agentcli(["show", run.session_id, "--scout", "scout-1-1"], env=env, cwd=workspace)
    assert one.code == 0, one.stderr
    assert "read_file" in one.stdout and "calc adds" in one.stdout and "hi there" not in one.stdout
    main = agentcli(["show", run.session_id], env=env, cwd=workspace)
    assert "calc adds" not in main.stdout.split("2 scouts")[0]  # scout messages: not in the main transcript
    as_json = json.loads(agentcli(["show", run.session_id, "--scout", "scout-1-2", "--json"],
                                  env=env, cwd=workspace).stdout)
    assert as_json["scout"]["report"] == "hi there"
    assert [m["role"] for m in as_json["messages"]] == ["system", "user", "assistant"]
    missing = agentcli(["show", run.session_id, "--scout", "scout-9-9"], env=env, cwd=workspace)
    assert missing.code == 2 and "no scout 'scout-9-9'" in missing.stderr
    exported = agentcli(["export", run.session_id], env=env, cwd=workspace).stdout
    assert "## Scouts" in exported and "scout-1-2" in exported and "calc adds" in exported
    exported_json = json.loads(agentcli(["export", run.session_id, "--format", "json"],
                                        env=env, cwd=workspace).stdout)
    assert [s["agent"] for s in exported_json["scouts"]] == ["scout-1-1", "scout-1-2"]


def test_rollback_marks_the_scouts_of_rolled_back_prompts(openai_server, workspace, env):
    openai_server.script(fan_out("TASK-A: a"), text_answer("ra", match="TASK-A"), summary())
    run = run_new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    db = session_file(workspace, run.session_id)
    back = agentcli(["rollback", run.session_id, "--conversation-only"], env=env, cwd=workspace)
    assert back.code == 0, back.stderr
    assert rows(db, "SELECT rolled_back_by FROM scouts")[0]["rolled_back_by"] is not None
    assert all(m["rolled_back_by"] is not None
               for m in rows(db, "SELECT rolled_back_by FROM messages WHERE agent = 'scout-1-1'"))
    undo = agentcli(["rollback", run.session_id, "--undo"], env=env, cwd=workspace)
    assert undo.code == 0, undo.stderr
    assert rows(db, "SELECT rolled_back_by FROM scouts")[0]["rolled_back_by"] is None


# -- the engine, in-process -------------------------------------------------------------


@pytest.fixture
def session(tmp_path: Path, workspace: Path) -> Iterator[Session]:
    opened = SessionDirectory(tmp_path / "sessions").create(workspace_root=workspace, title="t")
    yield opened
    opened.close()


def _scout_call(session: Session, tasks: list[str]) -> int:
    """An orchestrator message calling scout, journaled running: the fan-out's parent row."""
    prompt = session.add_prompt("survey")
    arguments = json.dumps({"tasks": tasks})
    message = session.transcript.append("assistant", "", agent=ORCHESTRATOR, prompt_id=prompt.id,
                                        tool_calls=[call("scout", arguments, "c1")["tool_calls"][0]])
    return session.tool_calls.begin(agent=ORCHESTRATOR, message_id=message.id, position=0, call_id="c1",
                                    name="scout", arguments=arguments, prompt_id=prompt.id, kind="agent")


class PerTaskModel:
    """A thread-safe in-process model: each scout gets the scripted answers of its own task."""

    name = "per-task"
    endpoint_host = "in-process"

    def __init__(self, script: dict[str, list[dict]]):
        self.models = {task: ScriptedModel(answers, name=self.name) for task, answers in script.items()}

    def complete(self, messages, tools, **kwargs):
        return self.models[messages[1]["content"]].complete(messages, tools, **kwargs)

    def close(self) -> None:
        """Nothing to release."""


def test_many_scouts_writing_at_once_never_lock_the_database(session: Session, workspace: Path) -> None:
    """32 scouts on 32 threads, each three reads and an answer, while another connection reads
    the file all along: every row lands, and no write meets "database is locked"."""
    tasks = [f"task {n}" for n in range(32)]
    script = {task: [call("read_file", '{"path": "calc.py"}', "r1"),
                     call("search", '{"pattern": "add"}', "r2"),
                     call("list_files", "{}", "r3"), say(f"report of {task}")] for task in tasks}
    events: list[Event] = []
    toolbox = default_registry(Workspace(workspace, protected=[session.path.parent]))
    fanout = ScoutFanout(session, PerTaskModel(script), toolbox, serialized(events.append),
                         ScoutSettings(parallel=32))
    row = _scout_call(session, tasks)
    stop, read_errors, reads = threading.Event(), [], [0]

    def read_along() -> None:
        conn = sqlite3.connect(session.path, timeout=10)
        try:
            while not stop.is_set():
                conn.execute("SELECT count(*) FROM messages").fetchone()
                conn.execute("SELECT status, count(*) FROM scouts GROUP BY status").fetchall()
                reads[0] += 1
        except sqlite3.Error as err:
            read_errors.append(err)
        finally:
            conn.close()

    reader = threading.Thread(target=read_along)
    reader.start()
    try:
        output = ScoutTool(fanout).prepare({"tasks": tasks}, toolbox.ctx)
        output.row = row
        result = output.execute(CancelToken())
    finally:
        stop.set()
        reader.join()
    assert not result.is_error, result.text
    assert read_errors == [] and reads[0] > 0
    assert result.text.startswith("32 scouts: 32 done.")
    assert [s.status for s in session.scouts.for_call(row)] == ["done"] * 32
    assert all(s.steps == 4 for s in session.scouts.for_call(row))
    assert len(session.model_calls.all()) == 32 * 4
    assert len(session.tool_calls.all()) == 1 + 32 * 3
    assert sum(e.type == "scout.finished" for e in events) == 32


def test_a_cancel_stops_every_scout_and_leaves_them_to_resume(session: Session, workspace: Path) -> None:
    token = CancelToken()
    started = threading.Barrier(3, timeout=10)

    def stall(*_: object) -> None:  # both scouts are mid-request, then the person presses Ctrl-C
        started.wait()
        token.sleep(10)

    class Stalling(PerTaskModel):
        def complete(self, messages, tools, *, cancel=None, **kwargs):
            stall()
            return super().complete(messages, tools, cancel=cancel, **kwargs)

    toolbox = default_registry(Workspace(workspace, protected=[session.path.parent]))
    fanout = ScoutFanout(session, Stalling({"a": [say("ra")], "b": [say("rb")]}), toolbox, lambda e: None,
                         ScoutSettings())
    row = _scout_call(session, ["a", "b"])
    prepared = ScoutTool(fanout).prepare({"tasks": ["a", "b"]}, toolbox.ctx)
    prepared.row = row
    caught: list[BaseException] = []
    worker = threading.Thread(target=lambda: caught.append(_raises(lambda: prepared.execute(token))))
    worker.start()
    started.wait()
    began = time.monotonic()
    token.cancel("SIGTERM")
    worker.join(10)
    assert time.monotonic() - began < 2
    assert caught and type(caught[0]).__name__ == "Cancelled"
    assert [s.status for s in session.scouts.for_call(row)] == ["interrupted", "interrupted"]

    # resumed: the same call row goes on from the records, and finishes
    fanout = ScoutFanout(session, PerTaskModel({"a": [say("ra")], "b": [say("rb")]}), toolbox, lambda e: None,
                         ScoutSettings())
    again = ScoutTool(fanout).prepare({"tasks": ["a", "b"]}, toolbox.ctx)
    again.row = row
    output = again.execute(CancelToken())
    assert "ra" in output.text and "rb" in output.text
    assert [s.status for s in session.scouts.for_call(row)] == ["done", "done"]
    assert len([m for m in session.transcript.all() if m.agent == "scout-1-1" and m.role == "user"]) == 1


def _raises(work) -> BaseException | None:
    try:
        work()
    except BaseException as err:  # noqa: BLE001 - handed to the test thread
        return err
    return None


def test_a_retry_after_seen_by_one_client_holds_the_others(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(error_answer(429, retry_after=0.8, match="first"), text_answer("one", match="first"),
                         text_answer("two", match="second"))
    gate = RateGate()
    settings = ModelSettings(model="m", base_url=openai_server.base_url, api_key="k", retry_max_wait=5)
    first, second = ModelClient(settings, gate=gate), ModelClient(settings, gate=gate).for_model("m2")
    try:
        began = time.monotonic()
        done = threading.Thread(target=lambda: first.complete([{"role": "user", "content": "first"}], []))
        done.start()
        openai_server.wait_for_requests(1)
        time.sleep(0.1)  # the 429 has been read: the gate is closed
        reply = second.complete([{"role": "user", "content": "second"}], [])
        done.join(10)
    finally:
        first.close()
    assert reply.content == "two"
    second_sent = next(r.received_at for r in openai_server.requests
                       if r.body["messages"][0]["content"] == "second")
    assert second_sent - openai_server.requests[0].received_at >= 0.7
    assert time.monotonic() - began >= 0.7
    assert openai_server.requests[-1].body["model"] in ("m", "m2")


def test_reports_are_capped_head_and_tail() -> None:
    report = "HEAD" + "x" * 10_000 + "TAIL"
    capped = clip(report, 1000)
    assert capped.startswith("HEAD") and capped.endswith("TAIL") and len(capped) < 1100
    assert "characters of this report left out" in capped
    assert clip("short", 1000) == "short"


def test_the_scout_tool_checks_its_tasks(session: Session, workspace: Path) -> None:
    toolbox = default_registry(Workspace(workspace))
    tool = ScoutTool(ScoutFanout(session, PerTaskModel({}), toolbox, lambda e: None, ScoutSettings()))
    toolbox.register(tool)
    for bad, message in ((["  "], "tasks[0] must be a non-empty string"), ([], "at least one task"),
                         (["x"] * 65, "at most 64 tasks")):
        with pytest.raises(Exception, match=message.replace("[", r"\[").replace("]", r"\]")):
            toolbox.prepare("scout", json.dumps({"tasks": bad}))
    assert toolbox.prepare("scout", '{"tasks": [" find X "]}').args["tasks"] == [" find X "]
    assert toolbox.prepare("scout", '{"tasks": ["a", "b"]}').summary == "scout 2 tasks"
