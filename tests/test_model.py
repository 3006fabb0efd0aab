"""The model client against a real local Chat Completions server."""

from __future__ import annotations

import dataclasses
import json
import socket
from typing import Any

import pytest
from openai_server import (
    ScriptedOpenAIServer,
    drop_answer,
    error_answer,
    text_answer,
    tool_answer,
    tool_call,
)

from agentcli.agent.model.client import ModelClient, ModelSettings
from agentcli.agent.model.protocol import Attempt
from agentcli.agent.model.reply import ModelReply, Usage
from agentcli.errors import ModelEndpointError

USER = [{"role": "user", "content": "hi"}]
READ_FILE = {"type": "function", "function": {"name": "read_file", "parameters": {"type": "object"}}}


class Recorder:
    """Collects what the client reports through its callbacks and its sleep."""

    def __init__(self) -> None:
        self.started: list[Attempt] = []
        self.ended: list[Attempt] = []
        self.text: list[str] = []
        self.sleeps: list[float] = []

    def hooks(self) -> dict[str, Any]:
        return {"log": _AttemptLog(self), "on_text": self.text.append}


class _AttemptLog:
    """The client's AttemptLog, writing into a Recorder."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def started(self, attempt: Attempt) -> None:
        self.recorder.started.append(attempt)

    def ended(self, attempt: Attempt, reply: ModelReply | None) -> None:
        self.recorder.ended.append(attempt)


def make_client(server_url: str, recorder: Recorder, **settings: Any) -> ModelClient:
    options = {"model": "gpt-test", "base_url": server_url, "api_key": "sk-test-key", **settings}
    return ModelClient(ModelSettings(**options), sleep=recorder.sleeps.append)


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def test_streamed_text_with_usage(openai_server: ScriptedOpenAIServer, rec: Recorder) -> None:
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    openai_server.script(text_answer("Hello from the scripted model", usage=usage))
    reply = make_client(openai_server.base_url, rec).complete(USER, [READ_FILE], **rec.hooks())
    assert reply.content == "Hello from the scripted model"
    assert len(rec.text) > 2 and "".join(rec.text) == reply.content
    assert reply.finish_reason == "stop" and reply.tool_calls == []
    assert reply.usage == Usage(11, 7, 18)
    body = openai_server.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["tools"] == [READ_FILE]
    [start], [end] = rec.started, rec.ended
    assert (start.number, start.latency_ms, start.response) == (0, None, None)
    assert end.http_status == 200 and end.latency_ms is not None and end.error is None
    assert end.response == reply.response and end.usage == reply.usage
    assert end.endpoint_host == openai_server.base_url.split("/")[2] and end.model == "gpt-test"
    json.dumps(reply.response)  # JSON-able, for the audit log


def test_streamed_tool_calls_are_assembled(openai_server: ScriptedOpenAIServer, rec: Recorder) -> None:
    broken = '{"pattern": "def main", "path": '  # invalid JSON must arrive exactly as sent
    openai_server.script(
        tool_answer(
            tool_call("read_file", {"path": "src/app.py", "offset": 120}, id="call_a"),
            tool_call("search", broken, id="call_b"),
            chunk_size=5,
        )
    )
    reply = make_client(openai_server.base_url, rec).complete(USER, [READ_FILE])
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("call_a", "read_file", '{"path": "src/app.py", "offset": 120}'),
        ("call_b", "search", broken),
    ]
    assert reply.finish_reason == "tool_calls" and reply.content == ""
    assert reply.response["choices"][0]["message"]["tool_calls"][1]["function"]["arguments"] == broken


def test_absent_usage_is_tolerated(openai_server: ScriptedOpenAIServer, rec: Recorder) -> None:
    openai_server.script(text_answer("no usage here", usage=False))
    reply = make_client(openai_server.base_url, rec).complete(USER, [], **rec.hooks())
    assert reply.content == "no usage here" and reply.usage is None and rec.ended[0].usage is None


def test_429_then_500_then_success(openai_server: ScriptedOpenAIServer, rec: Recorder) -> None:
    openai_server.script(error_answer(429, "slow down", retry_after=2), error_answer(500), text_answer("ok"))
    reply = make_client(openai_server.base_url, rec).complete(USER, [], **rec.hooks())
    assert reply.content == "ok"
    assert len(openai_server.requests) == 3
    assert [a.number for a in rec.started] == [0, 1, 2]
    assert [a.number for a in rec.ended] == [0, 1, 2]
    assert [a.http_status for a in rec.ended] == [429, 500, 200]
    assert "HTTP 429" in (rec.ended[0].error or "") and "slow down" in (rec.ended[0].error or "")
    assert rec.ended[2].error is None
    assert rec.sleeps[0] == pytest.approx(2.0)
    assert len(rec.sleeps) == 2 and 0 < rec.sleeps[1] <= 60


def test_retry_hints_are_capped(openai_server: ScriptedOpenAIServer, rec: Recorder) -> None:
    openai_server.script(
        error_answer(429, retry_after=120),
        error_answer(503, headers={"retry-after-ms": "250"}),
        text_answer("ok"),
    )
    make_client(openai_server.base_url, rec, retry_max_wait=5).complete(USER, [])
    assert rec.sleeps == [pytest.approx(5.0), pytest.approx(0.25)]


def test_401_fails_at_once_naming_the_fix(openai_server: ScriptedOpenAIServer, rec: Recorder) -> None:
    openai_server.script(error_answer(401, "Incorrect API key provided: sk-test-key"), text_answer("never"))
    with pytest.raises(ModelEndpointError) as caught:
        make_client(openai_server.base_url, rec).complete(USER, [], **rec.hooks())
    message = str(caught.value)
    assert "401" in message and "OPENAI_API_KEY" in message and "127.0.0.1" in message
    assert "\n" not in message and "sk-test-key" not in message
    assert len(openai_server.requests) == 1 and rec.sleeps == []
    assert rec.ended[0].http_status == 401 and "sk-test-key" not in (rec.ended[0].error or "")
    assert caught.value.exit_code == 3


def test_404_names_model_and_base_url(openai_server: ScriptedOpenAIServer, rec: Recorder) -> None:
    openai_server.script(error_answer(404, "model not found"))
    with pytest.raises(ModelEndpointError) as caught:
        make_client(openai_server.base_url, rec).complete(USER, [])
    assert "gpt-test" in str(caught.value) and openai_server.base_url in str(caught.value)
    assert len(openai_server.requests) == 1


def test_400_is_not_retried(openai_server: ScriptedOpenAIServer, rec: Recorder) -> None:
    openai_server.script(error_answer(400, "context length exceeded"))
    with pytest.raises(ModelEndpointError, match="context length exceeded"):
        make_client(openai_server.base_url, rec).complete(USER, [])
    assert len(openai_server.requests) == 1 and rec.sleeps == []


def test_a_local_endpoint_that_refuses_is_given_up_on_after_a_second_and_a_half(rec: Recorder) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = make_client(f"http://127.0.0.1:{port}/v1", rec, max_attempts=6)
    with pytest.raises(ModelEndpointError) as caught:
        client.complete(USER, [], **rec.hooks())
    message = str(caught.value)
    assert "cannot connect to" in message and f"127.0.0.1:{port}" in message and "--base-url" in message
    assert "3 attempts" in message
    assert len(rec.started) == 3 and rec.sleeps == [0.5, 1.0]  # nothing listens: 1.5 s, not 31-36 s
    assert all(a.http_status is None and a.error for a in rec.ended)


@pytest.mark.parametrize(("url", "local"), [
    ("http://127.0.0.1:11434/v1", True), ("http://localhost:8080/v1", True), ("http://[::1]:1234/v1", True),
    ("http://0.0.0.0:8000/v1", True), ("http://192.168.1.20:11434/v1", True), ("http://10.0.0.5/v1", True),
    ("http://gpu-box.local:8000/v1", True), ("https://api.openai.com/v1", False),
    ("https://8.8.8.8/v1", False), ("https://example.com/v1", False)])
def test_only_a_local_endpoint_gets_the_short_schedule_for_a_refused_connection(url: str, local: bool,
                                                                                 rec: Recorder) -> None:
    client = make_client(url, rec, max_attempts=6)
    refused = ConnectionRefusedError(111, "Connection refused")
    assert client.attempts_for(refused) == (3 if local else 6)
    assert client.attempts_for(TimeoutError()) == 6  # a slow server is waited for as before
    assert make_client(url, rec, max_attempts=2).attempts_for(refused) == 2  # never more than asked


def test_connection_dropped_mid_stream_then_success(
    openai_server: ScriptedOpenAIServer, rec: Recorder
) -> None:
    openai_server.script(text_answer("partial answer that breaks", drop_after=3), text_answer("whole answer"))
    reply = make_client(openai_server.base_url, rec).complete(USER, [], **rec.hooks())
    assert reply.content == "whole answer"
    assert len(openai_server.requests) == 2 and len(rec.sleeps) == 1
    assert rec.ended[0].error and "connection" in rec.ended[0].error
    assert "".join(rec.text).endswith("whole answer")


def test_dropped_connection_exhausts_attempts(openai_server: ScriptedOpenAIServer, rec: Recorder) -> None:
    openai_server.script(drop_answer(), drop_answer())
    with pytest.raises(ModelEndpointError, match="failed after 2 attempts"):
        make_client(openai_server.base_url, rec, max_attempts=2).complete(USER, [])


def test_timeout_is_retried(openai_server: ScriptedOpenAIServer, rec: Recorder) -> None:
    openai_server.script(text_answer("late", delay=2), text_answer("on time"))
    reply = make_client(openai_server.base_url, rec, timeout=0.2).complete(USER, [], **rec.hooks())
    assert reply.content == "on time" and "timed out" in (rec.ended[0].error or "")


def test_non_streaming_mode(openai_server: ScriptedOpenAIServer, rec: Recorder) -> None:
    openai_server.script(tool_answer(tool_call("read_file", {"path": "a.py"}, id="call_1")))
    reply = make_client(openai_server.base_url, rec, stream=False).complete(USER, [READ_FILE])
    body = openai_server.requests[0].body
    assert "stream" not in body and "stream_options" not in body
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("call_1", "read_file", '{"path": "a.py"}')
    ]
    assert reply.content == "" and reply.finish_reason == "tool_calls" and reply.usage is not None


def test_assistant_tool_call_content_none_is_sent_as_empty_string(
    openai_server: ScriptedOpenAIServer, rec: Recorder
) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}
    messages = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "file text"},
    ]
    openai_server.script(text_answer("ok"))
    make_client(openai_server.base_url, rec).complete(messages, [READ_FILE])
    sent = openai_server.requests[0].body["messages"]
    assert sent[1]["content"] == "" and sent[1]["tool_calls"] == [call]
    assert sent[2] == messages[2] and messages[1]["content"] is None  # caller's list untouched


def test_api_key_never_in_what_is_returned(openai_server: ScriptedOpenAIServer, rec: Recorder) -> None:
    openai_server.script(error_answer(500, "key sk-test-key failed"), text_answer("ok"))
    reply = make_client(openai_server.base_url, rec).complete(USER, [], **rec.hooks())
    assert openai_server.requests[0].headers["authorization"] == "Bearer sk-test-key"
    returned = [dataclasses.asdict(a) for a in rec.started + rec.ended] + [dataclasses.asdict(reply)]
    assert "sk-test-key" not in json.dumps(returned)
    assert "sk-test-key" not in repr(ModelSettings(model="m", api_key="sk-test-key"))


def test_missing_key_still_works_with_local_servers(
    openai_server: ScriptedOpenAIServer, rec: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    openai_server.script(text_answer("no key needed"), error_answer(401))
    client = make_client(openai_server.base_url, rec, api_key=None)
    assert client.complete(USER, []).content == "no key needed"
    with pytest.raises(ModelEndpointError, match="requires an API key .* set OPENAI_API_KEY"):
        client.complete(USER, [])
