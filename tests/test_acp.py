"""``agentcli acp`` as an editor meets it: a real subprocess, the SDK's own client, the scripted server.

Each test starts ``python -m agentcli acp`` through ``acp.spawn_agent_process`` (tests/acp_client.py)
and checks what an editor would show — the updates, the permission questions, the stop
reasons, the JSON-RPC errors — and what the session file and the model endpoint saw.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from acp import RequestError
from acp.schema import McpServerStdio
from acp_client import Editor, editor, run, text_block
from agent_harness import rows, session_file
from openai_server import ScriptedOpenAIServer, text_answer, tool_answer, tool_call

from agentcli.cli.acp.permissions import ALLOW, ALWAYS, REJECT


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """Where the agent's stderr goes (shown when a test fails)."""
    return tmp_path / "acp.log"


@pytest.fixture(autouse=True)
def _show_log(log: Path):
    """Print the agent's log after each test: pytest shows it when the test failed."""
    yield
    if log.exists():
        print(log.read_text(), file=sys.stderr)


def prompt_of(*texts: str) -> list[Any]:
    return [text_block(text) for text in texts]


def answered_by(request: Any) -> list[str]:
    """The tool results a model request carried."""
    return [m["content"] for m in request.body["messages"] if m["role"] == "tool"]


# -- a session, a streamed turn -----------------------------------------------------------
def test_a_new_session_streams_its_answer_into_a_session_file_of_the_workspace(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    openai_server.script(text_answer("Hello from agentcli, streamed in pieces.", chunk_size=6))
    client = Editor()

    async def scenario() -> tuple[Any, Any, Any]:
        async with editor(client, workspace, env, openai_server.base_url, log) as (conn, _):
            init = await conn.initialize(protocol_version=1)
            new = await conn.new_session(cwd=str(workspace), mcp_servers=[])
            done = await conn.prompt(session_id=new.session_id, prompt=prompt_of("say hello"))
            return init, new, done

    init, new, done = run(scenario())
    caps = init.agent_capabilities
    assert caps.load_session and caps.prompt_capabilities.embedded_context
    assert not caps.prompt_capabilities.image and not caps.prompt_capabilities.audio
    assert caps.mcp_capabilities.http and not caps.mcp_capabilities.sse
    assert new.modes.current_mode_id == "ask"
    assert [m.id for m in new.modes.available_modes] == ["ask", "auto-edit", "full-auto", "read-only"]
    assert done.stop_reason == "end_turn"
    sid = new.session_id
    chunks = client.of(sid, "agent_message_chunk")
    assert len(chunks) > 3, "the answer streams in pieces"
    assert client.text(sid) == "Hello from agentcli, streamed in pieces."
    commands = client.of(sid, "available_commands_update")[0].available_commands
    assert {"undo", "checkpoints", "compact", "status"} <= {c.name for c in commands}
    path = session_file(workspace, sid)
    assert rows(path, "SELECT text, source, status FROM prompts") == [
        {"text": "say hello", "source": "editor", "status": "done"}]
    assert rows(path, "SELECT content FROM messages WHERE role = 'assistant'")[-1]["content"] == \
        "Hello from agentcli, streamed in pieces."


# -- permissions --------------------------------------------------------------------------
def edit_turn(server: ScriptedOpenAIServer, *paths: str) -> None:
    for path in paths:
        server.push(tool_answer(tool_call("write_file", {"path": path, "content": f"{path} says hi\n"})))
    server.push(text_answer("Wrote them."))


def test_an_edit_asks_permission_with_its_diff_and_allow_once_allows_that_edit_only(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    (workspace / "a.txt").write_text("old line\n")
    edit_turn(openai_server, "a.txt", "b.txt")
    client = Editor([ALLOW, ALLOW])

    async def scenario() -> tuple[str, Any]:
        async with editor(client, workspace, env, openai_server.base_url, log) as (conn, _):
            new = await conn.new_session(cwd=str(workspace), mcp_servers=[])
            return new.session_id, await conn.prompt(session_id=new.session_id, prompt=prompt_of("write"))

    sid, done = run(scenario())
    assert done.stop_reason == "end_turn"
    assert len(client.questions) == 2, "allow once granted nothing: the second edit was asked too"
    _, asked, options = client.questions[0]
    assert [(o.option_id, o.kind) for o in options] == [
        (ALLOW, "allow_once"), (ALWAYS, "allow_always"), (REJECT, "reject_once")]
    assert options[1].name == "Always allow every file edit in this session"
    diff = asked.content[0]
    assert (diff.type, diff.path, diff.old_text, diff.new_text) == (
        "diff", str(workspace / "a.txt"), "old line\n", "a.txt says hi\n")
    shown = client.calls(sid)[asked.tool_call_id]
    assert (shown["status"], shown["kind"], shown["title"]) == ("completed", "edit", "Write a.txt")
    assert shown["content"][0]["new_text"] == "a.txt says hi\n"
    assert shown["locations"] == [{"path": str(workspace / "a.txt"), "line": None, "field_meta": None}]
    assert (workspace / "a.txt").read_text() == "a.txt says hi\n"
    assert (workspace / "b.txt").read_text() == "b.txt says hi\n"
    assert rows(session_file(workspace, sid), "SELECT kind FROM approvals") == []


def test_rejecting_an_edit_denies_it_and_the_model_is_told(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    edit_turn(openai_server, "a.txt")
    client = Editor([REJECT])

    async def scenario() -> tuple[str, Any]:
        async with editor(client, workspace, env, openai_server.base_url, log) as (conn, _):
            new = await conn.new_session(cwd=str(workspace), mcp_servers=[])
            return new.session_id, await conn.prompt(session_id=new.session_id, prompt=prompt_of("write"))

    sid, done = run(scenario())
    assert done.stop_reason == "end_turn"
    assert not (workspace / "a.txt").exists()
    call_id = client.questions[0][1].tool_call_id
    assert client.calls(sid)[call_id]["status"] == "failed"
    assert answered_by(openai_server.requests[1])[0].startswith("denied: the user declined this call")
    assert rows(session_file(workspace, sid), "SELECT status FROM tool_calls") == [{"status": "denied"}]


def test_allow_always_grants_every_edit_of_the_session_and_nothing_broader(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    edit_turn(openai_server, "a.txt", "b.txt")
    openai_server.push(tool_answer(tool_call("run_shell", {"command": "ls | wc -l"})))
    openai_server.push(tool_answer(tool_call("run_shell", {"command": "git status --short"})))
    openai_server.push(text_answer("Looked."))
    client = Editor([ALWAYS, REJECT, REJECT])

    async def scenario() -> str:
        async with editor(client, workspace, env, openai_server.base_url, log) as (conn, _):
            new = await conn.new_session(cwd=str(workspace), mcp_servers=[])
            await conn.prompt(session_id=new.session_id, prompt=prompt_of("write"))
            await conn.prompt(session_id=new.session_id, prompt=prompt_of("look"))
            return new.session_id

    sid = run(scenario())
    assert (workspace / "b.txt").exists()
    asked = [call.title for _, call, _ in client.questions]
    assert asked == ["Create a.txt", "Run ls | wc -l", "Run git status --short"], "b.txt was granted"
    assert rows(session_file(workspace, sid), "SELECT kind, pattern FROM approvals") == [
        {"kind": "edits", "pattern": ""}]
    compound = [o.kind for o in client.questions[1][2]]
    assert compound == ["allow_once", "reject_once"], "a compound command is never offered 'always'"
    prefix = {o.kind: o.name for o in client.questions[2][2]}
    assert prefix["allow_always"] == "Always allow commands starting with 'git status'"


# -- cancel ----------------------------------------------------------------------------------
def test_cancel_mid_turn_answers_cancelled_records_the_turn_and_the_session_goes_on(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    hold = threading.Event()
    stalled = text_answer("I am writing a long answer that will never end", chunk_size=4, hold=hold,
                          hold_after=3)
    openai_server.script(stalled, text_answer("Fresh start."))
    client = Editor()

    async def scenario() -> tuple[str, Any, Any]:
        async with editor(client, workspace, env, openai_server.base_url, log) as (conn, _):
            new = await conn.new_session(cwd=str(workspace), mcp_servers=[])
            sid = new.session_id
            turn = asyncio.ensure_future(conn.prompt(session_id=sid, prompt=prompt_of("write forever")))
            await client.wait_for(lambda: client.of(sid, "agent_message_chunk"))
            await conn.cancel(session_id=sid)
            cancelled = await turn
            hold.set()
            after = await conn.prompt(session_id=sid, prompt=prompt_of("something else"))
            return sid, cancelled, after

    sid, cancelled, after = run(scenario())
    assert cancelled.stop_reason == "cancelled"
    assert after.stop_reason == "end_turn"
    assert client.text(sid).endswith("Fresh start.")
    path = session_file(workspace, sid)
    statuses = [r["status"] for r in rows(path, "SELECT status FROM prompts ORDER BY id")]
    assert statuses == ["cancelled", "done"]
    assert len(openai_server.requests) == 2, "the cancelled turn is not run again"
    last = openai_server.requests[1].body["messages"]
    assert [m["content"] for m in last if m["role"] == "user"] == ["write forever", "something else"]


def test_a_prompt_sent_while_a_turn_runs_is_taken_next_and_each_is_answered_when_its_turn_ends(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    hold, later = threading.Event(), threading.Event()
    first = text_answer("First answer.", hold=hold, hold_after=2)
    second = text_answer("Second answer.", hold=later, hold_after=2)
    openai_server.script(first, second)
    client = Editor()

    async def scenario() -> tuple[str, Any, Any]:
        async with editor(client, workspace, env, openai_server.base_url, log) as (conn, _):
            sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
            one = asyncio.ensure_future(conn.prompt(session_id=sid, prompt=prompt_of("first task")))
            assert await asyncio.to_thread(first.held.wait, 30)
            two = asyncio.ensure_future(conn.prompt(session_id=sid, prompt=prompt_of("second task")))
            await asyncio.sleep(0.3)  # the second prompt is stored, queued behind the running turn
            hold.set()
            answered = await one  # answered while the second turn is still held
            assert await asyncio.to_thread(second.held.wait, 30)
            assert not two.done()
            later.set()
            return sid, answered, await two

    sid, one, two = run(scenario())
    assert one.stop_reason == two.stop_reason == "end_turn"
    assert client.text(sid) == "First answer.Second answer."
    users = [m["content"] for m in openai_server.requests[1].body["messages"] if m["role"] == "user"]
    assert users == ["first task", "second task"]


def test_scouts_are_shown_as_tool_calls_with_their_progress(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    openai_server.script(tool_answer(tool_call("scout", {"tasks": ["find the config file"]})),
                         text_answer("It is agentcli.toml.", match="find the config file"),
                         text_answer("The scout found it.", match="## Scout"))
    client = Editor()

    async def scenario() -> tuple[str, Any]:
        async with editor(client, workspace, env, openai_server.base_url, log) as (conn, _):
            sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
            return sid, await conn.prompt(session_id=sid, prompt=prompt_of("send a scout"))

    sid, done = run(scenario())
    assert done.stop_reason == "end_turn"
    calls = client.calls(sid)
    fanout = [c for c in calls.values() if c.get("title") == "Send 1 scout"]
    scouts = [c for c in calls.values() if c.get("title") == "Scout: find the config file"]
    assert len(fanout) == 1 and fanout[0]["status"] == "completed" and fanout[0]["kind"] == "think"
    assert len(scouts) == 1 and scouts[0]["status"] == "completed"
    assert scouts[0]["content"][0]["content"]["text"].startswith("done after 1 step")
    steps = [u for u in client.of(sid, "tool_call_update") if u.tool_call_id == scouts[0]["tool_call_id"]]
    assert any(u.status == "in_progress" for u in steps), "the scout is shown running"
    assert client.text(sid) == "The scout found it."


@pytest.mark.slow
def test_sigterm_mid_turn_saves_the_turn_resumable_and_exits_130(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    hold = threading.Event()
    stalled = text_answer("This answer is cut short by a signal.", hold=hold, hold_after=2)
    openai_server.script(stalled)

    async def scenario() -> tuple[str, int]:
        async with editor(Editor(), workspace, env, openai_server.base_url, log) as (conn, process):
            sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
            turn = asyncio.ensure_future(conn.prompt(session_id=sid, prompt=prompt_of("talk")))
            assert await asyncio.to_thread(stalled.held.wait, 30)
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 20)
            turn.cancel()
            return sid, code

    sid, code = run(scenario())
    hold.set()
    assert code == 130
    path = session_file(workspace, sid)
    assert rows(path, "SELECT status FROM prompts") == [{"status": "interrupted"}]
    assert rows(path, "SELECT status FROM meta") == [{"status": "interrupted"}]


# -- load after kill -9 -------------------------------------------------------------------------
@pytest.mark.slow
def test_load_after_kill_9_replays_the_history_and_finishes_the_turn_asking_nothing_again(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    hold = threading.Event()
    stalled = text_answer("Finished the job after the crash.", hold=hold, hold_after=2)
    openai_server.script(
        tool_answer(tool_call("write_file", {"path": "a.txt", "content": "hi\n"})),
        tool_answer(tool_call("update_plan", {"items": [{"title": "write a.txt", "status": "done"},
                                                         {"title": "say so", "status": "in_progress"}]})),
        stalled,
        text_answer("Finished the job after the crash."),
    )
    first, second = Editor([ALLOW]), Editor()

    async def crash() -> str:
        async with editor(first, workspace, env, openai_server.base_url, log) as (conn, process):
            new = await conn.new_session(cwd=str(workspace), mcp_servers=[])
            sid = new.session_id
            turn = asyncio.ensure_future(conn.prompt(session_id=sid, prompt=prompt_of("write a.txt")))
            assert await asyncio.to_thread(stalled.held.wait, 30), "the third answer never started"
            process.send_signal(signal.SIGKILL)
            await process.wait()
            turn.cancel()
            return sid

    sid = run(crash())
    hold.set()
    assert rows(session_file(workspace, sid), "SELECT status FROM prompts") == [{"status": "running"}]

    async def reload() -> list[Any]:
        async with editor(second, workspace, env, openai_server.base_url, log) as (conn, _):
            loaded = await conn.load_session(cwd=str(workspace), session_id=sid, mcp_servers=[])
            replayed = list(second.of(sid))
            assert loaded.modes.current_mode_id == "ask"
            await second.wait_for(lambda: "Finished the job" in second.text(sid))
            await asyncio.to_thread(_until_idle, session_file(workspace, sid))
            return replayed

    replayed = run(reload())
    kinds = [u.session_update for u in replayed]
    assert kinds[:3] == ["user_message_chunk", "tool_call", "tool_call"]
    assert replayed[0].content.text == "write a.txt"
    edit = replayed[1]
    assert (edit.status, edit.kind, edit.title) == ("completed", "edit", "Write a.txt")
    diff = edit.content[0]
    assert (diff.type, diff.path, diff.old_text, diff.new_text) == (
        "diff", str(workspace / "a.txt"), None, "hi\n")
    plan = [u for u in replayed if u.session_update == "plan"][-1]
    assert [(e.content, e.status) for e in plan.entries] == [
        ("write a.txt", "completed"), ("say so", "in_progress")]
    assert second.questions == [], "the answered permission is not asked again"
    requests = openai_server.requests
    assert len(requests) == 4, "only the request in flight at the kill is sent again"
    assert requests[3].body["messages"] == requests[2].body["messages"]
    assert (workspace / "a.txt").read_text() == "hi\n"
    assert rows(session_file(workspace, sid), "SELECT status FROM prompts") == [{"status": "done"}]


def _until_idle(path: Path) -> None:
    for _ in range(600):
        if rows(path, "SELECT status FROM meta")[0]["status"] == "idle":
            return
        threading.Event().wait(0.05)


# -- many sessions, one process -------------------------------------------------------------
def test_two_sessions_run_at_once_each_its_own_file_and_updates(
        openai_server: ScriptedOpenAIServer, tmp_path: Path, env: dict[str, str], log: Path) -> None:
    left, right = tmp_path / "left", tmp_path / "right"
    left.mkdir()
    right.mkdir()
    hold = threading.Event()
    slow = text_answer("Left answer, slowly.", match="task for left", hold=hold, hold_after=2)
    openai_server.script(slow, text_answer("Right answer.", match="task for right"))
    client = Editor()

    async def scenario() -> tuple[str, str, Any, Any]:
        async with editor(client, left, env, openai_server.base_url, log) as (conn, _):
            one = (await conn.new_session(cwd=str(left), mcp_servers=[])).session_id
            two = (await conn.new_session(cwd=str(right), mcp_servers=[])).session_id
            first = asyncio.ensure_future(conn.prompt(session_id=one, prompt=prompt_of("task for left")))
            assert await asyncio.to_thread(slow.held.wait, 30)
            second = await conn.prompt(session_id=two, prompt=prompt_of("task for right"))  # while one runs
            hold.set()
            return one, two, await first, second

    one, two, first, second = run(scenario())
    assert first.stop_reason == second.stop_reason == "end_turn"
    assert client.text(one) == "Left answer, slowly."
    assert client.text(two) == "Right answer."
    assert session_file(left, one).is_file() and session_file(right, two).is_file()
    recorded = rows(session_file(right, two), "SELECT workspace_root FROM meta")
    assert recorded == [{"workspace_root": str(right)}]


@pytest.mark.slow
def test_a_session_busy_in_another_process_is_an_error_and_the_process_keeps_serving(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    openai_server.script(text_answer("Served anyway."))

    async def scenario() -> tuple[RequestError, Any, int]:
        async with editor(Editor(), workspace, env, openai_server.base_url, log) as (holder, held_by):
            sid = (await holder.new_session(cwd=str(workspace), mcp_servers=[])).session_id
            async with editor(Editor(), workspace, env, openai_server.base_url, log) as (other, _):
                with pytest.raises(RequestError) as refused:
                    await other.load_session(cwd=str(workspace), session_id=sid, mcp_servers=[])
                fresh = await other.new_session(cwd=str(workspace), mcp_servers=[])
                done = await other.prompt(session_id=fresh.session_id, prompt=prompt_of("hi"))
                return refused.value, done, held_by.pid

    refused, done, pid = run(scenario())
    assert refused.code == -32001
    assert "busy" in str(refused) and str(pid) in str(refused)
    assert refused.data == {"exit_code": 4}
    assert done.stop_reason == "end_turn"


def test_bad_requests_are_json_rpc_errors_and_the_process_keeps_serving(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    from acp import spawn_stdio_connection

    openai_server.script(text_answer("Still here."))

    async def nothing(method: str, params: Any, notification: bool) -> None:
        return None

    async def scenario() -> tuple[dict[str, RequestError], Any]:
        errors: dict[str, RequestError] = {}
        with log.open("a") as stderr:
            async with spawn_stdio_connection(nothing, sys.executable, "-m", "agentcli", "acp", "--base-url",
                                              openai_server.base_url, env=env, cwd=workspace,
                                              stderr=stderr) as (conn, _):
                await conn.send_request("initialize", {"protocolVersion": 1})
                text = [{"type": "text", "text": "hi"}]
                tries = {
                    "unknown session": ("session/prompt", {"sessionId": "nosuchsession", "prompt": text}),
                    "no cwd": ("session/new", {"mcpServers": []}),
                    "cwd not a string": ("session/new", {"cwd": 42, "mcpServers": []}),
                    "relative cwd": ("session/new", {"cwd": "some/where", "mcpServers": []}),
                    "unknown load": ("session/load", {"cwd": str(workspace), "sessionId": "zzzzzzzzzzzzz",
                                                      "mcpServers": []}),
                    "path as id": ("session/load", {"cwd": str(workspace), "sessionId": "../x",
                                                    "mcpServers": []}),
                    "no method": ("session/teleport", {}),
                }
                for name, (method, params) in tries.items():
                    try:
                        await conn.send_request(method, params)
                    except RequestError as err:
                        errors[name] = err
                new = await conn.send_request("session/new", {"cwd": str(workspace), "mcpServers": []})
                sid = new["sessionId"]
                image = [{"type": "image", "data": "aGk=", "mimeType": "image/png"}]
                try:
                    await conn.send_request("session/prompt", {"sessionId": sid, "prompt": image})
                except RequestError as err:
                    errors["image"] = err
                try:
                    await conn.send_request("session/set_mode", {"sessionId": sid, "modeId": "yolo"})
                except RequestError as err:
                    errors["bad mode"] = err
                done = await conn.send_request("session/prompt", {"sessionId": sid, "prompt": text})
                return errors, done

    errors, done = run(scenario())
    codes = {name: err.code for name, err in errors.items()}
    assert codes == {"unknown session": -32002, "no cwd": -32602, "cwd not a string": -32602,
                     "relative cwd": -32602, "unknown load": -32002, "path as id": -32002,
                     "no method": -32601, "image": -32602, "bad mode": -32602}
    assert "session/new or session/load it first" in str(errors["unknown session"])
    assert "not image content" in str(errors["image"].data)
    assert done == {"stopReason": "end_turn"}


# -- modes, commands, context ------------------------------------------------------------------
def test_set_mode_switches_the_approval_mode_and_the_session_remembers_it(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    edit_turn(openai_server, "a.txt")
    client = Editor()

    async def scenario() -> str:
        async with editor(client, workspace, env, openai_server.base_url, log) as (conn, _):
            sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
            await conn.set_session_mode(session_id=sid, mode_id="auto-edit")
            await conn.prompt(session_id=sid, prompt=prompt_of("write"))
            return sid

    sid = run(scenario())
    assert client.questions == [], "auto-edit allows edits unasked"
    assert (workspace / "a.txt").exists()
    assert [u.current_mode_id for u in client.of(sid, "current_mode_update")] == ["auto-edit"]
    settings = rows(session_file(workspace, sid), "SELECT settings FROM meta")[0]["settings"]
    assert '"approval": "auto-edit"' in settings


def test_slash_commands_run_locally_and_undo_rolls_the_last_prompt_back(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    (workspace / "a.txt").write_text("original\n")
    edit_turn(openai_server, "a.txt")
    client = Editor([ALLOW])

    async def scenario() -> tuple[str, list[str]]:
        async with editor(client, workspace, env, openai_server.base_url, log) as (conn, _):
            sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
            await conn.prompt(session_id=sid, prompt=prompt_of("write"))
            said = []
            for command in ("/checkpoints", "/diff", "/undo", "/frobnicate"):
                before = client.text(sid)
                done = await conn.prompt(session_id=sid, prompt=prompt_of(command))
                assert done.stop_reason == "end_turn"
                said.append(client.text(sid)[len(before):])
            return sid, said

    sid, (checkpoints, diff, undo, unknown) = run(scenario())
    assert "| 1 |" in checkpoints and "write" in checkpoints
    assert "-original" in diff and "+a.txt says hi" in diff
    assert "rolled back to checkpoint 1" in undo and "restored a.txt" in undo
    assert unknown.startswith("unknown command /frobnicate")
    assert (workspace / "a.txt").read_text() == "original\n"
    assert len(openai_server.requests) == 2, "no command reached the model"


def test_an_embedded_file_is_attached_to_the_prompt_and_a_link_is_read_through_the_jail(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    from acp import embedded_text_resource, resource_block, resource_link_block

    (workspace / "notes.md").write_text("remember the milk\n")
    openai_server.script(text_answer("Noted."))
    blocks = [text_block("read these"),
              resource_block(embedded_text_resource(f"file://{workspace}/app.py", "print('hi')\n")),
              resource_link_block("notes.md", f"file://{workspace}/notes.md"),
              resource_link_block("secret", f"file://{workspace}/.agentcli/sessions/x.sqlite")]

    async def scenario() -> None:
        async with editor(Editor(), workspace, env, openai_server.base_url, log) as (conn, _):
            sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
            await conn.prompt(session_id=sid, prompt=blocks)

    run(scenario())
    sent = [m["content"] for m in openai_server.requests[0].body["messages"] if m["role"] == "user"][0]
    assert sent.startswith("read these")
    assert "File app.py:\n```\nprint('hi')\n```" in sent
    assert "File notes.md:\n```\nremember the milk\n```" in sent
    assert "@secret: not attached" in sent


def test_the_editors_mcp_servers_are_started_and_offered(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    command = shutil.which("mcp-server-time")
    assert command is not None, "the test extra installs mcp-server-time"
    openai_server.script(text_answer("It is time."))
    server = McpServerStdio(name="time", command=command, args=[], env=[])

    async def scenario() -> None:
        async with editor(Editor(), workspace, env, openai_server.base_url, log) as (conn, _):
            sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[server])).session_id
            await conn.prompt(session_id=sid, prompt=prompt_of("what time is it"))

    run(scenario())
    offered = {tool["function"]["name"] for tool in openai_server.requests[0].body["tools"]}
    assert "time__get_current_time" in offered


def test_list_shows_the_workspaces_sessions_newest_first(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    openai_server.script(text_answer("One."), text_answer("Two."))

    async def scenario() -> tuple[list[str], Any]:
        async with editor(Editor(), workspace, env, openai_server.base_url, log) as (conn, _):
            made = []
            for text in ("first task", "second task"):
                sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
                await conn.prompt(session_id=sid, prompt=prompt_of(text))
                made.append(sid)
            return made, await conn.list_sessions(cwd=str(workspace))

    made, listed = run(scenario())
    assert [(s.session_id, s.title, s.cwd) for s in listed.sessions] == [
        (made[1], "second task", str(workspace)), (made[0], "first task", str(workspace))]


# -- the process --------------------------------------------------------------------------------
def test_acp_starts_without_the_openai_sdk_and_stdout_carries_the_protocol_only(
        workspace: Path, env: dict[str, str]) -> None:
    request = b'{"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": 1}}\n'
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "agentcli", "acp"], input=request,
                          capture_output=True, cwd=workspace, env=env, timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.decode().splitlines()
                if line.startswith("import time:")]
    assert "acp.schema" in imported
    assert not [name for name in imported if name.split(".")[0] == "openai"], "openai waits for a session"
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 1 and '"agentCapabilities"' in lines[0]


def test_acp_refuses_a_stdout_that_is_no_pipe(workspace: Path, env: dict[str, str], tmp_path: Path) -> None:
    with (tmp_path / "out").open("w") as out:
        done = subprocess.run([sys.executable, "-m", "agentcli", "acp"], stdin=subprocess.PIPE, stdout=out,
                              stderr=subprocess.PIPE, text=True, cwd=workspace, env=env, timeout=60)
    assert done.returncode == 2
    assert done.stderr.startswith("agentcli: its stdout is a file, not a pipe: agentcli acp speaks to an "
                                  "editor")


@pytest.mark.slow
def test_the_editor_going_away_mid_turn_leaves_it_interrupted_and_an_empty_thread_leaves_no_file(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    hold = threading.Event()
    stalled = text_answer("Half an answer, then the editor is gone.", hold=hold, hold_after=2)
    openai_server.script(stalled)

    async def scenario() -> tuple[str, str, int]:
        async with editor(Editor(), workspace, env, openai_server.base_url, log) as (conn, process):
            sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
            empty = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
            turn = asyncio.ensure_future(conn.prompt(session_id=sid, prompt=prompt_of("talk")))
            assert await asyncio.to_thread(stalled.held.wait, 30)
            process.stdin.close()  # what an editor that dies leaves behind
            code = await asyncio.wait_for(process.wait(), 20)
            turn.cancel()
            return sid, empty, code

    sid, empty, code = run(scenario())
    hold.set()
    assert code == 0
    assert rows(session_file(workspace, sid), "SELECT status FROM prompts") == [{"status": "interrupted"}]
    assert not session_file(workspace, empty).exists(), "a thread never prompted is not kept"


def test_loading_a_thread_open_in_this_process_shows_it_again(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], log: Path) -> None:
    openai_server.script(text_answer("First."))
    client = Editor()

    async def scenario() -> tuple[str, list[Any]]:
        async with editor(client, workspace, env, openai_server.base_url, log) as (conn, _):
            sid = (await conn.new_session(cwd=str(workspace), mcp_servers=[])).session_id
            await conn.prompt(session_id=sid, prompt=prompt_of("one"))
            before = len(client.of(sid))
            await conn.load_session(cwd=str(workspace), session_id=sid, mcp_servers=[])
            return sid, client.of(sid)[before:]

    sid, again = run(scenario())
    assert [(u.session_update, getattr(u.content, "text", None)) for u in again] == [
        ("user_message_chunk", "one"), ("agent_message_chunk", "First.")]
    assert len(openai_server.requests) == 1
