"""The context builder reads only what is new between requests, and builds exactly what a
fresh reading of the session file would."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcli.agent.context import ContextBuilder, ContextSettings
from agentcli.agent.model.wire import RequestEncoder, request_body, request_bytes
from agentcli.session.directory import SessionDirectory
from agentcli.session.records import ORCHESTRATOR
from agentcli.session.session import Session


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    root = tmp_path / "ws"
    root.mkdir()
    opened = SessionDirectory(tmp_path / "sessions").create(workspace_root=root, title="t")
    opened.transcript.append("system", "You are the orchestrator.", agent=ORCHESTRATOR)
    yield opened
    opened.close()


def _snapshot(builder: ContextBuilder) -> tuple:
    context = builder.build(tools=500)
    return (context.messages, context.tokens, context.complete, context.tail,
            context.compaction.id if context.compaction else None, context.api)


def _step(session: Session, rng: random.Random, turn: list[int], rollbacks: list[int],
          roll: float) -> str:
    """One change of the kind a session sees (which one: ``roll``); returns its name."""
    transcript = session.transcript
    ids = [m.id for m in transcript.all(ORCHESTRATOR)]
    if roll < 0.08 and ids:
        at = rng.choice(ids)
        rollbacks.append(at)
        session.compactions.mark_rolled_back(at, at)
        transcript.mark_rolled_back(at, at)
        return "rollback"
    if roll < 0.11 and rollbacks:
        undone = rollbacks.pop()
        session.compactions.unmark_rolled_back(undone)
        transcript.unmark_rolled_back(undone)
        return "undo"
    if roll < 0.17 and len(ids) > 6:
        first, last = ids[1], rng.choice(ids[2:-1])
        session.compactions.begin(ORCHESTRATOR, prompt_id=None, reason="test", first=first, last=last,
                                  at=ids[-1], pinned=None, previous=None, tokens=None, status="done",
                                  summary=f"summary up to {last}")
        return "compaction"
    turn[0] += 1
    n = turn[0]
    transcript.append("user", f"prompt {n} é", agent=ORCHESTRATOR)
    for k in range(rng.randint(0, 3)):
        call_id = f"c{n}-{k}"
        transcript.append("assistant", "", agent=ORCHESTRATOR,
                          tool_calls=[{"id": call_id, "type": "function",
                                       "function": {"name": "read_file", "arguments": '{"path":"a"}'}}])
        size = rng.choice([10, 200, 9_000])  # 9,000 characters are sent trimmed at this window
        transcript.append("tool", "x" * size, agent=ORCHESTRATOR, tool_call_id=call_id)
    transcript.append("assistant", f"answer {n}", agent=ORCHESTRATOR)
    return "turn"


@pytest.mark.parametrize("seed", range(6))
def test_a_kept_builder_builds_what_a_fresh_one_builds_after_every_change(session: Session,
                                                                          seed: int) -> None:
    rng = random.Random(seed)
    settings = ContextSettings(window=rng.choice([8_000, 16_000, 64_000]))
    kept = ContextBuilder(session, ORCHESTRATOR, settings)
    turn, rollbacks, seen = [0], [], set()
    for n in range(60):
        roll = 0.15 if n % 12 == 11 else rng.random()  # a compaction now and then, surely
        seen.add(_step(session, rng, turn, rollbacks, roll))
        assert _snapshot(kept) == _snapshot(ContextBuilder(session, ORCHESTRATOR, settings))
    assert seen >= {"turn", "rollback", "compaction"}


def test_a_kept_builder_reads_only_the_rows_added_since_its_last_request(session: Session) -> None:
    rng = random.Random(1)
    builder = ContextBuilder(session, ORCHESTRATOR, ContextSettings(window=1_000_000))
    for _ in range(40):
        _step_turn(session, rng)
        builder.build(tools=0)
    reads: list[int] = []
    tail = session.transcript.tail

    def counting(*args, **kwargs):
        messages, complete = tail(*args, **kwargs)
        reads.append(len(messages))
        return messages, complete

    session.transcript.tail = counting  # type: ignore[method-assign]
    transcript_rows = len(builder.build(tools=0).messages)
    _step_turn(session, rng)
    context = builder.build(tools=0)
    assert transcript_rows > 100
    assert reads[-1] == len(context.messages) - transcript_rows  # the new turn's rows only


def _step_turn(session: Session, rng: random.Random) -> None:
    transcript = session.transcript
    transcript.append("user", "go", agent=ORCHESTRATOR)
    transcript.append("assistant", "", agent=ORCHESTRATOR, tool_calls=[
        {"id": "c", "type": "function", "function": {"name": "list_files", "arguments": "{}"}}])
    transcript.append("tool", "a.txt\n" * rng.randint(1, 30), agent=ORCHESTRATOR, tool_call_id="c")
    transcript.append("assistant", "done", agent=ORCHESTRATOR)


def test_the_encoder_sends_the_bytes_of_a_whole_encoding_request_after_request() -> None:
    encoder = RequestEncoder()
    tools = [{"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}]
    messages: list[dict] = [{"role": "system", "content": "sé \u2028 \"q\""}]
    for n in range(30):
        messages.append({"role": "user", "content": f"prompt {n} 日本"})
        calls = [{"id": f"c{n}", "type": "function", "function": {"name": "x", "arguments": "{}"}}]
        messages.append({"role": "assistant", "content": "", "tool_calls": calls})
        if n % 7 == 3:  # a message replaced by another dict (a compaction's new system prompt)
            messages[0] = {"role": "system", "content": f"summary {n}"}
        body = request_body("m", list(messages), tools, stream=n % 2 == 0)
        assert encoder.encode(body) == request_bytes(body)
    # a fresh dict that happens to get a freed dict's id is encoded, not taken from memory
    for _ in range(200):
        body = request_body("m", [{"role": "user", "content": str(random.random())}], [], stream=True)
        assert encoder.encode(body) == request_bytes(body)


def test_a_result_whose_call_was_compacted_away_is_never_sent_alone(session: Session) -> None:
    transcript = session.transcript
    builder = ContextBuilder(session, ORCHESTRATOR, ContextSettings(window=64_000))
    first = transcript.append("user", "look", agent=ORCHESTRATOR)
    calling = transcript.append("assistant", "", agent=ORCHESTRATOR, tool_calls=[
        {"id": "c1", "type": "function", "function": {"name": "list_files", "arguments": "{}"}}])
    builder.build(tools=0)
    session.compactions.begin(ORCHESTRATOR, prompt_id=None, reason="test", first=first.id, last=calling.id,
                              at=calling.id, pinned=None, previous=None, tokens=None, status="done",
                              summary="looked")
    for built in (builder, ContextBuilder(session, ORCHESTRATOR, ContextSettings(window=64_000))):
        assert [m.role for m in built.build(tools=0).messages] == ["system", "user"]  # the summary
    transcript.append("tool", "a.txt", agent=ORCHESTRATOR, tool_call_id="c1")
    transcript.append("assistant", "one file", agent=ORCHESTRATOR)
    for built in (builder, ContextBuilder(session, ORCHESTRATOR, ContextSettings(window=64_000))):
        context = built.build(tools=0)
        assert [m.role for m in context.messages] == ["system", "user", "assistant"]
        assert "looked" in context.messages[1].content
