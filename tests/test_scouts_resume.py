"""Crash tests of a fan-out: kill -9 (or SIGTERM) a real process mid-fan-out, then resume.

Three tasks on two slots. A reads a file and answers; B's first answer stalls (in
flight when the process dies); C starts in A's freed slot, makes one tool call, and its
second answer stalls too. After the signal, ``agentcli resume`` must not ask A again,
must re-send only the two requests whose answers never arrived, and must give the
orchestrator all three reports.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
from agent_harness import agentcli, rows, session_file, sessions_folder, start
from openai_answers import text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.slow

TAGS = ("TASK-A", "TASK-B", "TASK-C")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    return root


def _lengths_by_agent(server: ScriptedOpenAIServer) -> dict[str, list[int]]:
    """Request transcript lengths per scout tag (``orchestrator`` for the rest), in order."""
    seen: dict[str, list[int]] = defaultdict(list)
    for request in server.requests:
        messages = request.body["messages"]
        tag = next((t for t in TAGS if messages[0]["content"].startswith("You are a scout")
                    and t in messages[1]["content"]), "orchestrator")
        seen[tag].append(len(messages))
    return dict(seen)


def _wait_until(condition, what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_a_stopped_fan_out_resumes_without_asking_a_finished_scout_again(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], stop: int) -> None:
    hold_b, hold_c = threading.Event(), threading.Event()
    stalled_b = text_answer("never arrives B", match="TASK-B", hold=hold_b)
    stalled_c = text_answer("never arrives C", match="TASK-C", hold=hold_c)
    openai_server.script(
        tool_answer(tool_call("scout", {"tasks": [f"{t}: look" for t in TAGS]}), match="PROMPT"),
        tool_answer(tool_call("read_file", {"path": "calc.py"}), match="TASK-A"),
        text_answer("report A", match="TASK-A"),
        stalled_b,
        tool_answer(tool_call("list_files", {}), match="TASK-C"),
        stalled_c,
    )
    args = ["-p", "--base-url", openai_server.base_url, "--scouts", "2"]
    proc = start(["new", "PROMPT survey", *args], env=env, cwd=workspace)
    try:
        assert stalled_b.held.wait(30) and stalled_c.held.wait(30), "the scouts never got mid-answer"
        proc.send_signal(stop)
        proc.wait(20)
    finally:
        hold_b.set()
        hold_c.set()
    assert proc.returncode == (-signal.SIGKILL if stop == signal.SIGKILL else 130)
    db = next(sessions_folder(workspace).glob("*.sqlite"))
    scouts = {s["agent"]: s for s in rows(db, "SELECT * FROM scouts")}
    assert scouts["scout-1-1"]["status"] == "done" and scouts["scout-1-1"]["report"] == "report A"
    unfinished = "running" if stop == signal.SIGKILL else "interrupted"
    assert scouts["scout-1-2"]["status"] == scouts["scout-1-3"]["status"] == unfinished
    assert rows(db, "SELECT status FROM tool_calls WHERE name = 'scout'")[0]["status"] == "running"
    before = _lengths_by_agent(openai_server)
    assert before == {"orchestrator": [2], "TASK-A": [2, 4], "TASK-B": [2], "TASK-C": [2, 4]}

    openai_server.script(text_answer("report B", match="TASK-B"), text_answer("report C", match="TASK-C"),
                         text_answer("all three surveyed", match="## Scout 1: "))
    run = agentcli(["resume", "last", *args], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "all three surveyed"
    # A is never asked again; B and C re-send only the request whose answer never came
    assert _lengths_by_agent(openai_server) == {
        "orchestrator": [2, 4], "TASK-A": [2, 4], "TASK-B": [2, 2], "TASK-C": [2, 4, 4]}
    result = openai_server.requests[-1].body["messages"][-1]["content"]
    assert result.index("report A") < result.index("report B") < result.index("report C")
    assert "3 scouts: 3 done." in result
    statuses = {s["agent"]: (s["status"], s["steps"]) for s in rows(db, "SELECT * FROM scouts")}
    assert statuses == {"scout-1-1": ("done", 2), "scout-1-2": ("done", 1), "scout-1-3": ("done", 2)}
    audit = rows(db, "SELECT agent, status FROM model_calls WHERE status != 'ok'")
    assert sorted((a["agent"], a["status"]) for a in audit) == [
        ("scout-1-2", "interrupted"), ("scout-1-3", "interrupted")]
    # each scout's opening is written once, whatever happened
    opening = rows(db, "SELECT agent, count(*) AS n FROM messages WHERE role = 'user' GROUP BY agent")
    assert {o["agent"]: o["n"] for o in opening} == {"orchestrator": 1, "scout-1-1": 1, "scout-1-2": 1,
                                                     "scout-1-3": 1}
    assert session_file(workspace, run.session_id) == db
