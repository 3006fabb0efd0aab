"""The active context: sizes known before sending, large results trimmed, cuts that keep pairs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_harness import agentcli, rows, session_file
from openai_answers import text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer
from scripted_model import ScriptedModel, call, say

from agentcli.agent.approval import Approver
from agentcli.agent.cancel import CancelToken
from agentcli.agent.compaction import COMPACTOR_SYSTEM, compact_now
from agentcli.agent.config import resolve_settings
from agentcli.agent.context import SUMMARY_HEADING, ContextSettings, trim_tool_result
from agentcli.agent.events import Event
from agentcli.agent.history.tracker import Tracker
from agentcli.agent.loop import AgentLoop, Orchestrator
from agentcli.agent.model.client import ModelClient, ModelSettings
from agentcli.agent.runner import ToolRunner
from agentcli.agent.tools.registry import ToolLimits, default_registry
from agentcli.agent.workspace.jail import Workspace
from agentcli.errors import UsageError
from agentcli.session.directory import SessionDirectory
from agentcli.session.records import ORCHESTRATOR
from agentcli.session.session import Session


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.fixture
def session(tmp_path: Path, workspace: Path) -> Iterator[Session]:
    opened = SessionDirectory(tmp_path / "sessions").create(workspace_root=workspace, title="t")
    opened.transcript.append("system", "You are the orchestrator.", agent=ORCHESTRATOR)
    yield opened
    opened.close()


def _orchestrator(session: Session, workspace: Path, model, events: list[Event], window: int,
                  limits: ToolLimits | None = None, **context) -> Orchestrator:
    sessions = session.path.parent
    toolbox = default_registry(Workspace(workspace, protected=[sessions]), limits or ToolLimits())
    tracker = Tracker(session, workspace, exclude=[sessions], max_file_bytes=1 << 20)
    runner = ToolRunner(session, ORCHESTRATOR, toolbox, Approver("full-auto", None), tracker, events.append)
    loop = AgentLoop(session, ORCHESTRATOR, model, runner, events.append, context_window=window,
                     context=ContextSettings(**context))
    return Orchestrator(session, loop, tracker, events.append, max_turns=20)


def test_trimmed_results_keep_head_and_tail_and_say_how_to_read_more() -> None:
    text = "".join(f"line {i}\n" for i in range(300_000))
    sent = trim_tool_result(text, 6_000)
    assert len(sent) <= 6_000
    assert sent.startswith("line 0\n") and sent.endswith("line 299999\n")
    assert f"of {len(text):,} characters cut from the middle" in sent and "read_file" in sent
    assert trim_tool_result("short", 6_000) == "short"


def test_a_2mb_tool_result_is_stored_whole_and_sent_trimmed_every_time(
        session: Session, workspace: Path, openai_server: ScriptedOpenAIServer) -> None:
    line = "x" * 99 + "\n"
    (workspace / "big.log").write_text("HEAD\n" + line * 20_000 + "TAIL\n")  # 2 MB
    openai_server.script(tool_answer(tool_call("read_file", {"path": "big.log"}, id="c1")),
                         tool_answer(tool_call("list_files", {}, id="c2")), text_answer("seen it"))
    client = ModelClient(ModelSettings(model="m", base_url=openai_server.base_url, api_key="k"))
    limits = ToolLimits(read_char_limit=5_000_000, read_line_limit=100_000)
    events: list[Event] = []
    agent = _orchestrator(session, workspace, client, events, 16_000, limits)
    session.add_prompt("what is in big.log?")
    assert agent.run(CancelToken()).status == "done"
    client.close()

    stored = next(m for m in session.transcript.all() if m.role == "tool")
    assert len(stored.content) > 2_000_000 and "TAIL" in stored.content  # stored whole
    first, later = (next(m["content"] for m in r.body["messages"] if m["role"] == "tool")
                    for r in openai_server.requests[1:3])
    assert first == later  # the same trimmed text when it arrives and in the older turn
    assert len(first) <= ContextSettings(window=16_000).tool_result_chars
    assert "HEAD" in first and "TAIL" in first and "characters cut from the middle" in first
    assert all(len(json.dumps(r.body)) // 4 <= 16_000 for r in openai_server.requests)


def test_cached_tokens_and_the_estimate_are_recorded(
        session: Session, workspace: Path, openai_server: ScriptedOpenAIServer) -> None:
    usage = {"prompt_tokens": 5000, "completion_tokens": 5, "total_tokens": 5005,
             "prompt_tokens_details": {"cached_tokens": 768}}
    openai_server.script(text_answer("hello", usage=usage), text_answer("again"))
    client = ModelClient(ModelSettings(model="m", base_url=openai_server.base_url, api_key="k"))
    agent = _orchestrator(session, workspace, client, [], 16_000)
    session.add_prompt("hi")
    session.add_prompt("hi again")
    agent.run(CancelToken())
    client.close()
    first, second = session.model_calls.all()
    assert (first.prompt_tokens, first.cached_tokens) == (5000, 768)
    assert first.estimated_tokens and first.estimated_tokens < 5000
    # the endpoint counted more than the estimate: the next estimate is scaled up to match
    assert second.estimated_tokens >= 5000


def test_a_cut_never_separates_a_call_from_its_result_and_keeps_the_turns_user_message(
        session: Session, workspace: Path) -> None:
    for n in range(12):
        (workspace / f"m{n}.txt").write_text(f"module {n}\n" + "y" * 2_500)
    answers = [call("read_file", json.dumps({"path": f"m{n}.txt"}), f"r{n}") for n in range(12)]
    model = ScriptedModel([*answers, say("done"), say("the summary of it all")])
    agent = _orchestrator(session, workspace, model, [], 6_000)
    session.add_prompt("read the twelve modules")
    agent.loop.compactor.settings.compact = False  # a cut first, then a summary by hand
    assert agent.run(CancelToken()).status == "done"
    for request in model.requests:
        ids = [m.get("tool_call_id") for m in request if m["role"] == "tool"]
        asked = [c["id"] for m in request if m["role"] == "assistant" for c in m.get("tool_calls") or []]
        assert ids == asked  # every result with its call, every call with its result
        after_summary = 2 if request[1]["content"].startswith(SUMMARY_HEADING) else 1
        assert request[after_summary] == {"role": "user", "content": "read the twelve modules"}
    record = compact_now(agent.loop.compactor, agent.loop.runner.schemas())
    assert record is not None and record.status == "done"
    assert record.summary.startswith("the summary of it all")
    assert model.requests[-1][0]["content"].startswith(COMPACTOR_SYSTEM[:40])
    calls = session.model_calls.all()
    assert (calls[-1].purpose, calls[-1].agent) == ("compaction", ORCHESTRATOR)
    assert not any(m.role == "assistant" and m.content == "the summary of it all"
                   for m in session.transcript.all())  # a summary is not a message


def test_context_windows_per_model_and_compaction_settings(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('compact_at = 0.7\n[context_windows]\n"llama3.1:8b" = 8192\n')
    known = resolve_settings(tmp_path, {"model": "llama3.1:8b"}, environ={}, user_file=config)
    assert (known.context_window, known.compact_at, known.no_compact) == (8192, 0.7, False)
    listed = resolve_settings(tmp_path, {"model": "gpt-3.5-turbo"}, environ={}, user_file=config)
    assert listed.context_window == 16_385
    given = resolve_settings(tmp_path, {"model": "llama3.1:8b", "context_window": 4000, "no_compact": True},
                             environ={}, user_file=config)
    assert (given.context_window, given.no_compact) == (4000, True)
    config.write_text("compact_at = 3\n")
    with pytest.raises(UsageError, match="compact_at"):
        resolve_settings(tmp_path, {}, environ={}, user_file=config)


def test_agentcli_compact_summarises_a_session_for_the_next_request(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]) -> None:
    for n in range(6):
        (workspace / f"n{n}.txt").write_text(f"note {n}\n" * 200)
    openai_server.script(*[tool_answer(tool_call("read_file", {"path": f"n{n}.txt"})) for n in range(6)],
                         text_answer("read them all"))
    base = ["--base-url", openai_server.base_url]
    first = agentcli(["new", "read the notes", "-p", "--approval", "full-auto", *base], env=env,
                     cwd=workspace)
    assert first.code == 0, first.stderr
    openai_server.script(text_answer("SUMMARY: six notes were read.", match=COMPACTOR_SYSTEM[:40]))
    done = agentcli(["compact", first.session_id, "--json", *base], env=env, cwd=workspace)
    assert done.code == 0, done.stderr
    types = [json.loads(line)["type"] for line in done.stdout.splitlines()]
    assert types == ["compaction.started", "compaction.finished"]
    db = session_file(workspace, first.session_id)
    made = rows(db, "SELECT status, reason, prompt_id FROM compactions")
    assert made == [{"status": "done", "reason": "manual", "prompt_id": None}]
    nothing = agentcli(["compact", first.session_id, *base], env=env, cwd=workspace)
    assert nothing.code == 0 and "nothing to compact" in nothing.stderr

    openai_server.script(text_answer("ok"))
    again = agentcli(["resume", first.session_id, "and now?", "-p", *base], env=env, cwd=workspace)
    assert again.code == 0, again.stderr
    sent = openai_server.requests[-1].body["messages"]
    assert "SUMMARY: six notes were read." in sent[1]["content"]
    assert sent[0] == openai_server.requests[0].body["messages"][0]  # the system prompt stays as it was
    # system, summary, task, answer, new
    assert [m["role"] for m in sent] == ["system", "user", "user", "assistant", "user"]
    shown = agentcli(["show", first.session_id], env=env, cwd=workspace)
    assert "compacted: messages" in shown.stdout


def test_agentcli_compact_says_how_many_tokens_a_request_takes_now(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]) -> None:
    for n in range(3):
        (workspace / f"n{n}.txt").write_text(f"note {n}\n" * 200)
    openai_server.script(*[tool_answer(tool_call("read_file", {"path": f"n{n}.txt"})) for n in range(3)],
                         text_answer("read them all"))
    base = ["--base-url", openai_server.base_url]
    first = agentcli(["new", "read the notes", "-p", *base], env=env, cwd=workspace)
    assert first.code == 0, first.stderr
    openai_server.script(text_answer("SUMMARY: three notes were read.", match=COMPACTOR_SYSTEM[:40]))
    done = agentcli(["compact", first.session_id, *base], env=env, cwd=workspace)
    assert done.code == 0, done.stderr
    db = session_file(workspace, first.session_id)
    after = rows(db, "SELECT tokens_before, tokens_after FROM compactions")
    assert after[0]["tokens_after"] is not None
    assert done.stdout.strip().endswith(f"(about {after[0]['tokens_before']} → {after[0]['tokens_after']} "
                                        "tokens per request)"), done.stdout


def test_a_large_write_is_sent_trimmed_afterwards_and_never_wedges_the_session(
        openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]) -> None:
    """A 1.5 MB write_file at the default window: later requests carry its arguments trimmed
    (head, marker, tail: valid JSON), so the turn goes on and the session resumes; the file
    and the session keep the content whole, and ``log --full`` still rebuilds every request."""
    import base64
    import os

    content = base64.b64encode(os.urandom(1_125_000)).decode()  # 1.5 MB
    openai_server.script(tool_answer(tool_call("write_file", {"path": "big.txt", "content": content}),
                                     chunk_size=65536),
                         text_answer("written"))
    base = ["--base-url", openai_server.base_url]
    run = agentcli(["new", "write it", "-p", "--approval", "full-auto", *base], env=env, cwd=workspace)
    assert run.code == 0 and run.stdout.strip() == "written", run.stderr
    assert (workspace / "big.txt").read_text() == content
    sent = openai_server.requests[1].body["messages"]
    call = sent[-2]["tool_calls"][0]["function"]
    arguments = json.loads(call["arguments"])
    assert arguments["path"] == "big.txt" and len(call["arguments"]) < 45_000
    assert arguments["content"].startswith(content[:1000]) and arguments["content"].endswith(content[-1000:])
    assert "characters cut from the middle of this argument" in arguments["content"]
    assert len(json.dumps(sent)) < 128_000 * 3  # the window, in characters

    openai_server.script(text_answer("still here"))
    again = agentcli(["resume", "last", "and now?", "-p", *base], env=env, cwd=workspace)
    assert again.code == 0 and again.stdout.strip() == "still here", again.stderr
    show = agentcli(["show", "last", "--json"], env=env, cwd=workspace)
    assert json.loads(json.loads(show.stdout)["tool_calls"][0]["arguments"])["content"] == content
    log = agentcli(["log", "last", "--full", "--json"], env=env, cwd=workspace)
    rebuilt = [c["request"] for c in json.loads(log.stdout)["model_calls"]]
    assert [json.dumps(r) for r in rebuilt] == [json.dumps(r.body) for r in openai_server.requests]
