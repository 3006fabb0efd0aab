"""The scripted OpenAI server, checked with the real ``openai`` SDK."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import openai
import pytest
from openai_server import (
    ScriptedOpenAIServer,
    drop_answer,
    error_answer,
    text_answer,
    tool_answer,
    tool_call,
)

USER = [{"role": "user", "content": "hi"}]


def client_for(server: ScriptedOpenAIServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)


def test_text_reply_as_json_with_usage(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(text_answer("Hello there!"))
    completion = client_for(openai_server).chat.completions.create(model="gpt-test", messages=USER)
    assert completion.choices[0].message.content == "Hello there!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-test"
    assert completion.usage is not None and completion.usage.total_tokens > 0


def test_streamed_text_arrives_in_several_chunks(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(text_answer("The quick brown fox jumps over the lazy dog"))
    stream = client_for(openai_server).chat.completions.create(model="m", messages=USER, stream=True)
    pieces = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 2
    assert "".join(pieces) == "The quick brown fox jumps over the lazy dog"


def test_streamed_tool_calls_are_assembled_by_the_sdk(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(
        tool_answer(
            tool_call("read_file", {"path": "src/app.py", "offset": 10}, id="call_1"),
            tool_call("search", '{"pattern": "def main"}', id="call_2"),
            content="Let me look.",
        )
    )
    raw = client_for(openai_server).chat.completions.create(model="m", messages=USER, stream=True)
    chunks = list(raw)
    argument_chunks = [
        c
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls and c.choices[0].delta.tool_calls[0].id is None
    ]
    assert len(argument_chunks) > 4  # arguments really are split
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    openai_server.script(tool_answer(tool_call("read_file", {"path": "a.py"}), tool_call("search", "{}")))
    with client_for(openai_server).chat.completions.stream(model="m", messages=USER) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    calls = final.choices[0].message.tool_calls or []
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("read_file", {"path": "a.py"}),
        ("search", {}),
    ]


def test_usage_chunk_only_when_asked_and_not_suppressed(openai_server: ScriptedOpenAIServer) -> None:
    client = client_for(openai_server)
    asked = {"stream_options": {"include_usage": True}}
    openai_server.script(text_answer("a"), text_answer("b"), text_answer("c", usage=False))
    with_usage = list(client.chat.completions.create(model="m", messages=USER, stream=True, **asked))
    assert with_usage[-1].choices == [] and with_usage[-1].usage is not None
    unasked = list(client.chat.completions.create(model="m", messages=USER, stream=True))
    assert all(c.usage is None for c in unasked)
    suppressed = list(client.chat.completions.create(model="m", messages=USER, stream=True, **asked))
    assert all(c.usage is None for c in suppressed) and suppressed[-1].choices


def test_usage_absent_from_json_reply(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(text_answer("x", usage=False))
    assert client_for(openai_server).chat.completions.create(model="m", messages=USER).usage is None


def test_rate_limit_carries_retry_after(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(error_answer(429, "slow down", retry_after=2))
    with pytest.raises(openai.RateLimitError) as caught:
        client_for(openai_server).chat.completions.create(model="m", messages=USER)
    assert caught.value.response.headers["retry-after"] == "2"
    assert "slow down" in str(caught.value)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, openai.InternalServerError),
        (401, openai.AuthenticationError),
        (400, openai.BadRequestError),
        (404, openai.NotFoundError),
    ],
)
def test_http_errors(openai_server: ScriptedOpenAIServer, status: int, error: type[Exception]) -> None:
    openai_server.script(error_answer(status))
    with pytest.raises(error):
        client_for(openai_server).chat.completions.create(model="m", messages=USER, stream=True)


def test_dropped_connection_is_a_connection_error(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(drop_answer(), text_answer("abcdefgh", drop_after=2))
    client = client_for(openai_server)
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="m", messages=USER)
    with pytest.raises(openai.APIConnectionError):
        list(client.chat.completions.create(model="m", messages=USER, stream=True))


def test_requests_are_recorded(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(text_answer("ok"))
    before = time.time()
    client_for(openai_server).chat.completions.create(model="gpt-test", messages=USER, temperature=0)
    [request] = openai_server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer test"
    assert request.body == {"model": "gpt-test", "messages": USER, "temperature": 0}
    deadline = time.monotonic() + 5  # the client may read the answer before the server stamps it
    while request.answered_at is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert before <= request.arrived_at <= request.received_at <= (request.answered_at or 0) <= time.time()


def test_exhausted_script_answers_500_saying_so(openai_server: ScriptedOpenAIServer) -> None:
    with pytest.raises(openai.InternalServerError, match="script exhausted"):
        client_for(openai_server).chat.completions.create(model="m", messages=USER)


def test_match_routes_answers_by_message_text(openai_server: ScriptedOpenAIServer) -> None:
    openai_server.script(text_answer("for A", match="task A"), text_answer("for B", match="task B"))
    client = client_for(openai_server)
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "task B"}])
    assert reply.choices[0].message.content == "for B"
    assert openai_server.pending == 1


def test_hold_stalls_mid_stream_until_released(openai_server: ScriptedOpenAIServer) -> None:
    release = threading.Event()
    answer = text_answer("first part, then the rest", hold=release)
    openai_server.script(answer)
    received: list[str] = []
    stream = client_for(openai_server).chat.completions.create(model="m", messages=USER, stream=True)
    worker = threading.Thread(
        target=lambda: received.extend(c.choices[0].delta.content or "" for c in stream if c.choices)
    )
    worker.start()
    assert openai_server.wait_for_requests(1, timeout=5)
    assert answer.held.wait(5)
    time.sleep(0.1)
    assert worker.is_alive()
    release.set()
    worker.join(5)
    assert "".join(received) == "first part, then the rest"


def test_wait_for_requests_times_out(openai_server: ScriptedOpenAIServer) -> None:
    with pytest.raises(TimeoutError):
        openai_server.wait_for_requests(1, timeout=0.05)


def test_standalone_script_file(tmp_path: Path) -> None:
    script = tmp_path / "answers.json"
    script.write_text(
        json.dumps(
            [
                {"content": "from the file", "delay": 0.01},
                {"tool_calls": [{"name": "list_files", "arguments": {"path": "."}}]},
                {"status": 429, "headers": {"Retry-After": "1"}, "message": "busy"},
            ]
        )
    )
    log = tmp_path / "requests.jsonl"
    server_py = Path(__file__).with_name("openai_server.py")
    process = subprocess.Popen(
        [sys.executable, str(server_py), "--script", str(script), "--log", str(log)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)
        assert client.chat.completions.create(model="m", messages=USER).choices[0].message.content == (
            "from the file"
        )
        calls = client.chat.completions.create(model="m", messages=USER).choices[0].message.tool_calls
        assert calls and json.loads(calls[0].function.arguments) == {"path": "."}
        with pytest.raises(openai.RateLimitError, match="busy"):
            client.chat.completions.create(model="m", messages=USER)
    finally:
        process.terminate()
        process.wait(5)
    assert process.returncode == 0
    assert len(log.read_text().splitlines()) == 3
