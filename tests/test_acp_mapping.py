"""What an editor is shown, piece by piece: engine events, questions, prompts and history as ACP.

The end-to-end tests (test_acp.py) drive a real ``agentcli acp``; these pin the mapping
itself on the events the engine emits, where a case is hard to reach through a model
(a scout fan-out, a flood of command output, an "always" that was never offered).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from acp.schema import (
    AllowedOutcome,
    DeniedOutcome,
    EnvVariable,
    HttpHeader,
    HttpMcpServer,
    ImageContentBlock,
    McpServerStdio,
    RequestPermissionResponse,
    ResourceContentBlock,
    SseMcpServer,
    TextContentBlock,
)

from agentcli.agent.engine.conversation import conversation
from agentcli.agent.events import Event
from agentcli.cli.acp.live import stop_reason
from agentcli.cli.acp.opening import client_servers
from agentcli.cli.acp.permissions import answer, options
from agentcli.cli.acp.prompts import PromptError, prompt_text
from agentcli.cli.acp.replay import replay
from agentcli.cli.acp.updates import UpdateMapper
from agentcli.errors import UsageError
from agentcli.session.session import Session

ROOT = Path("/repo")


def shown(updates: list) -> list[tuple[str, dict]]:
    return [(u.session_update, u.model_dump(exclude_none=True)) for u in updates]


def test_a_tool_call_is_announced_once_with_its_kind_title_and_place_then_ends() -> None:
    mapper = UpdateMapper(ROOT)
    started = Event("tool.started", {"agent": "orchestrator", "id": "c1", "name": "read_file",
                                     "arguments": '{"path": "src/app.py", "offset": 5}'})
    [(kind, call)] = shown(mapper.updates(started))
    assert kind == "tool_call"
    assert (call["kind"], call["status"]) == ("read", "in_progress")
    assert call["title"] == "Read src/app.py (from line 5)"
    assert call["locations"] == [{"path": "/repo/src/app.py", "line": 5}]
    assert call["raw_input"] == {"path": "src/app.py", "offset": 5}
    again = shown(mapper.updates(Event("tool.started", {**started.data, "resumed": True})))
    assert [kind for kind, _ in again] == ["tool_call_update"], "a call is started once"
    [(_, end)] = shown(mapper.updates(Event("tool.finished", {"agent": "orchestrator", "id": "c1",
                                                              "name": "read_file", "status": "done",
                                                              "output": "x = 1\n"})))
    assert end["status"] == "completed"
    assert end["content"][0]["content"]["text"] == "```\nx = 1\n```"


def test_a_scouts_calls_and_text_stay_out_and_an_unstreamed_answer_is_sent_whole() -> None:
    mapper = UpdateMapper(ROOT)
    assert mapper.updates(Event("tool.started", {"agent": "scout-3-1", "id": "s", "name": "read_file"})) == []
    assert mapper.updates(Event("assistant.delta", {"agent": "scout-3-1", "text": "hm"})) == []
    mapper.updates(Event("model.request", {"agent": "orchestrator"}))
    [(kind, chunk)] = shown(mapper.updates(Event("assistant.message", {"agent": "orchestrator",
                                                                       "content": "Whole answer."})))
    assert (kind, chunk["content"]["text"]) == ("agent_message_chunk", "Whole answer.")
    mapper.updates(Event("model.request", {"agent": "orchestrator"}))
    mapper.updates(Event("assistant.delta", {"agent": "orchestrator", "text": "Stre"}))
    assert mapper.updates(Event("assistant.message", {"agent": "orchestrator", "content": "Stre"})) == []


def test_a_commands_output_is_sent_as_it_comes_at_most_five_times_a_second_and_whole_at_the_end() -> None:
    mapper = UpdateMapper(ROOT)
    mapper.updates(Event("tool.started", {"agent": "orchestrator", "id": "sh", "name": "run_shell",
                                          "arguments": '{"command": "make test"}'}))
    sent = [mapper.updates(Event("tool.output", {"agent": "orchestrator", "text": f"line {n}\n"}))
            for n in range(50)]
    assert sum(1 for updates in sent if updates) == 1, "a flood of output is one update, not fifty"
    [(_, end)] = shown(mapper.updates(Event("tool.finished", {
        "agent": "orchestrator", "id": "sh", "name": "run_shell", "status": "done", "exit_code": 2,
        "output": "line 0\n"})))
    text = end["content"][0]["content"]["text"]
    assert text.startswith("```\nline 0\n") and "line 49\n[exit code: 2]\n```" in text


def test_scouts_are_tool_calls_with_their_progress() -> None:
    mapper = UpdateMapper(ROOT)
    queued = shown(mapper.updates(Event("scouts.started", {"agent": "orchestrator", "call": "c", "scouts": [
        {"id": "scout-7-1", "task": "where is the config read?", "status": "queued"},
        {"id": "scout-7-2", "task": "summarise util.py", "status": "done"}]})))
    assert [(k, u["tool_call_id"], u["status"], u["title"]) for k, u in queued] == [
        ("tool_call", "scout-7-1", "pending", "Scout: where is the config read?"),
        ("tool_call", "scout-7-2", "completed", "Scout: summarise util.py")]
    [(kind, running)] = shown(mapper.updates(Event("scout.started", {"id": "scout-7-1", "task": "x"})))
    assert (kind, running["status"]) == ("tool_call_update", "in_progress")
    [(_, step)] = shown(mapper.updates(Event("scout.progress", {"id": "scout-7-1", "steps": 2,
                                                                "activity": "read_file config.py"})))
    assert step["content"][0]["content"]["text"] == "step 2: read_file config.py"
    [(_, end)] = shown(mapper.updates(Event("scout.finished", {"id": "scout-7-1", "status": "failed",
                                                               "steps": 3, "error": "step limit reached"})))
    assert end["status"] == "failed"
    assert end["content"][0]["content"]["text"] == "failed after 3 steps: step limit reached"


def test_a_plan_update_and_a_mode_change_are_their_own_updates() -> None:
    mapper = UpdateMapper(ROOT)
    updates = shown(mapper.updates(Event("tool.finished", {
        "agent": "orchestrator", "id": "p", "name": "update_plan", "status": "done", "output": "plan",
        "items": [{"title": "a", "status": "done"}, {"title": "b", "status": "pending"}]})))
    assert [kind for kind, _ in updates] == ["tool_call", "tool_call_update", "plan"]
    assert updates[-1][1]["entries"] == [{"content": "a", "priority": "medium", "status": "completed"},
                                         {"content": "b", "priority": "medium", "status": "pending"}]
    [(kind, mode)] = shown(mapper.updates(Event("approval.changed", {"mode": "read-only"})))
    assert (kind, mode["current_mode_id"]) == ("current_mode_update", "read-only")


# -- permission answers -----------------------------------------------------------------------
QUESTION = {"id": 4, "call": "c", "tool": "run_shell", "kind": "shell", "command": "ls; rm -rf x",
            "always": None, "edits": [], "summary": "$ ls; rm -rf x"}


def test_always_is_offered_only_when_the_engine_offers_it_and_never_granted_otherwise() -> None:
    assert [o.kind for o in options(QUESTION)] == ["allow_once", "reject_once"]
    chose = RequestPermissionResponse(outcome=AllowedOutcome(outcome="selected", option_id="always"))
    assert answer(QUESTION, chose).choice == "no", "an option that was not offered grants nothing"
    offered = {**QUESTION, "always": "always allow commands starting with 'ls'"}
    assert answer(offered, chose).choice == "always"
    allow = RequestPermissionResponse(outcome=AllowedOutcome(outcome="selected", option_id="allow"))
    assert (answer(QUESTION, allow).request, answer(QUESTION, allow).choice) == (4, "yes")


def test_a_cancelled_or_failed_question_is_a_no_with_a_reason_for_the_model() -> None:
    cancelled = RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
    for response in (cancelled, None):
        said = answer(QUESTION, response)
        assert (said.choice, said.reason) == ("no", "the question was not answered in the editor")


def test_each_end_of_a_run_has_its_stop_reason_or_its_error() -> None:
    assert stop_reason({"status": "done"}) == "end_turn"
    assert stop_reason({"status": "interrupted", "reason": "interrupted"}) == "cancelled"
    assert stop_reason({"status": "failed", "reason": "max_turns"}) == "max_turn_requests"
    assert stop_reason({"status": "failed", "reason": "budget"}) == "max_tokens"
    error = stop_reason({"status": "failed", "reason": "endpoint", "error": "HTTP 401: bad key",
                         "exit_code": 3, "resumable": True})
    assert (str(error), error.data) == ("HTTP 401: bad key", {"reason": "endpoint", "exit_code": 3,
                                                              "resumable": True})


# -- prompts and servers ------------------------------------------------------------------------
def test_a_prompt_takes_text_and_workspace_files_and_refuses_images(workspace: Path) -> None:
    (workspace / "big.txt").write_text("y" * 300_000)
    link = ResourceContentBlock(type="resource_link", name="big.txt", uri=f"file://{workspace}/big.txt")
    outside = ResourceContentBlock(type="resource_link", name="passwd", uri="file:///etc/passwd")
    text = prompt_text([TextContentBlock(type="text", text="look"), link, outside], workspace, [])
    assert text.startswith("look\n(@passwd: not attached:")
    assert "File big.txt (cut at 200 kB):" in text and len(text) < 210_000
    with pytest.raises(PromptError, match="not image content"):
        prompt_text([ImageContentBlock(type="image", data="aGk=", mime_type="image/png")], workspace, [])
    with pytest.raises(PromptError, match="empty"):
        prompt_text([TextContentBlock(type="text", text="  ")], workspace, [])


def test_the_editors_mcp_servers_become_declarations_with_safe_names() -> None:
    stdio = McpServerStdio(name="my tools!", command="/bin/tool", args=["-v"],
                           env=[EnvVariable(name="TOKEN", value="t")])
    http = HttpMcpServer(type="http", name="docs", url="https://docs.example/mcp",
                         headers=[HttpHeader(name="Authorization", value="Bearer s3cret")])
    one, two = client_servers([stdio, http])
    assert (one.name, one.transport, one.command, one.args, one.env) == ("my_tools", "stdio", "/bin/tool",
                                                                         ["-v"], {"TOKEN": "t"})
    assert (two.name, two.transport, two.headers) == ("docs", "http", {"Authorization": "Bearer s3cret"})
    assert "Bearer s3cret" in two.secrets({}), "header values are redacted like a config's"
    with pytest.raises(UsageError, match="not sse"):
        client_servers([SseMcpServer(type="sse", name="old", url="https://x", headers=[])])


# -- replay ---------------------------------------------------------------------------------------
def test_the_replay_is_the_live_conversation_from_the_file(session_path: Path) -> None:
    with Session.open(session_path, writer=False) as session:
        updates = replay(conversation(session), session.plan.current(), ROOT)
    kinds = [(u.session_update, getattr(u, "status", None)) for u in updates]
    assert kinds == [("user_message_chunk", None), ("agent_message_chunk", None), ("tool_call", "completed"),
                     ("agent_message_chunk", None), ("plan", None)]
    call = updates[2]
    assert (call.title, call.kind, call.tool_call_id) == ("Read app.py", "read", "call_1")
    assert updates[3].content.text.startswith("Fixed.")


def test_rolled_back_messages_are_not_replayed(session_path: Path) -> None:
    with Session.open(session_path, writer=True) as session:
        first = session.transcript.all("orchestrator")[1]
        session.transcript.mark_rolled_back(first.id - 1, rollback_id=1)
        assert conversation(session) == []
