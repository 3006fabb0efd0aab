"""Scripted answers for ``ScriptedOpenAIServer`` and the Chat Completions payloads they render.

An ``Answer`` says what the server does with one request: reply with text and/or tool
calls (as one JSON ``chat.completion`` or as SSE ``chat.completion.chunk`` events), fail
with an HTTP status, or drop the connection. Build them with the small functions below::

    server.script(
        error_answer(429, retry_after=2),
        tool_answer(tool_call("read_file", {"path": "a.py"})),
        text_answer("Done."),
    )
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any


@dataclass
class ToolCallSpec:
    """One tool call the scripted model makes; ``arguments`` is the raw JSON text."""

    name: str
    arguments: str
    id: str


@dataclass
class Answer:
    """What the server does with one request.

    Attributes:
        content: assistant text (split across chunks when streaming).
        tool_calls: tool calls to make; their arguments are split across chunks too.
        status: HTTP status; anything but 200 sends ``body`` (or an OpenAI-style error).
        headers: extra response headers (e.g. ``Retry-After``).
        body: error body: a dict is sent as JSON, a str as plain text.
        delay: seconds to wait before answering at all.
        chunk_delay: seconds to wait between SSE chunks.
        chunk_size: characters per content / argument fragment.
        usage: True for estimated usage, False for none at all, or an explicit dict.
        finish_reason: defaults to ``tool_calls`` or ``stop``.
        model: model name reported; defaults to the one requested.
        drop_after: close the socket after this many SSE chunks (0: before any response;
            for a JSON reply any value > 0 sends half the body, then closes).
        hold: when set, the stream stalls after ``hold_after`` chunks until it is set.
        held: set by the server when it starts stalling on ``hold``.
        hung_up: set by the server when the client closed the connection while the answer
            was delayed (``delay``) or stalled (``hold``).
        match: only serve a request whose message texts contain this substring
            (lets concurrent callers, e.g. scouts, each get their own answer).
        endless: an answer that never ends, until the client hangs up: ``"content"`` sends
            text pieces of ``chunk_size`` forever, ``"arguments"`` the arguments of one tool
            call, ``"line"`` one line of the stream (or of a JSON body) that never ends.
        stopped: set by the server when an endless answer stopped: the client hung up.
        no_index: stream tool calls without ``index`` (as some servers do): a call's first
            chunk carries its id, the chunks of its arguments neither id nor index.
    """

    content: str = ""
    tool_calls: list[ToolCallSpec] = field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    chunk_size: int = 8
    usage: bool | dict[str, int] = True
    finish_reason: str | None = None
    model: str | None = None
    drop_after: int | None = None
    hold: threading.Event | None = None
    hold_after: int = 2
    held: threading.Event = field(default_factory=threading.Event, repr=False)
    hung_up: threading.Event = field(default_factory=threading.Event, repr=False)
    match: str | None = None
    endless: str | None = None
    no_index: bool = False
    stopped: threading.Event = field(default_factory=threading.Event, repr=False)


def tool_call(name: str, arguments: str | dict[str, Any] = "{}", id: str | None = None) -> ToolCallSpec:
    """A tool call; a dict of ``arguments`` is encoded as JSON, a str is sent verbatim."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCallSpec(name=name, arguments=raw, id=id or f"call_{uuid.uuid4().hex[:24]}")


def text_answer(content: str, **options: Any) -> Answer:
    """A plain text reply; ``options`` are any other ``Answer`` fields."""
    return Answer(content=content, **options)


def tool_answer(*calls: ToolCallSpec, content: str = "", **options: Any) -> Answer:
    """A reply making ``calls`` (optionally with text); ``options`` are ``Answer`` fields."""
    return Answer(content=content, tool_calls=list(calls), **options)


def error_answer(
    status: int,
    message: str | None = None,
    *,
    retry_after: float | None = None,
    headers: dict[str, str] | None = None,
    body: Any = None,
    **options: Any,
) -> Answer:
    """An HTTP error; the body defaults to OpenAI's ``{"error": {...}}`` shape."""
    all_headers = dict(headers or {})
    if retry_after is not None:
        all_headers["Retry-After"] = f"{retry_after:g}"
    if body is None:
        body = error_body(message or HTTPStatus(status).phrase, status)
    return Answer(status=status, headers=all_headers, body=body, **options)


def endless_answer(kind: str = "content", **options: Any) -> Answer:
    """An answer that goes on until the client hangs up (see ``Answer.endless``)."""
    assert kind in ("content", "arguments", "line"), kind
    return Answer(endless=kind, **options)


def endless_body(answer: Answer, request: dict[str, Any]) -> Iterator[bytes]:
    """The bytes of an answer that never ends, piece by piece: SSE events when ``request``
    streams, else a JSON ``chat.completion`` whose text never closes."""
    piece = "x" * max(1, answer.chunk_size)
    if not request.get("stream"):
        head = {**_header(answer, request, "chat.completion")}
        yield json.dumps(head)[:-1].encode() + b', "choices": [{"index": 0, "message": {"content": "'
        while True:
            yield piece.encode()
    header = _header(answer, request, "chat.completion.chunk")

    def event(delta: dict[str, Any]) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        return f"data: {json.dumps({**header, 'choices': [choice]})}\n\n".encode()

    yield event({"role": "assistant", "content": ""})
    if answer.endless == "line":
        yield b"data: " + json.dumps(header)[:-1].encode() + b', "padding": "'
        while True:
            yield piece.encode()
    if answer.endless == "arguments":
        opening = {"index": 0, "id": "call_endless", "type": "function",
                   "function": {"name": "write_file", "arguments": '{"path": "a", "content": "'}}
        yield event({"tool_calls": [opening]})
        while True:
            yield event({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
    while True:
        yield event({"content": piece})


def drop_answer(**options: Any) -> Answer:
    """Close the connection without sending any response."""
    return Answer(drop_after=0, **options)


def error_body(message: str, status: int) -> dict[str, Any]:
    """An OpenAI-style error object."""
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        404: "not_found_error",
        429: "rate_limit_exceeded",
    }.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def answer_from_json(data: dict[str, Any]) -> Answer:
    """An ``Answer`` from a JSON script entry (the fields of ``Answer``, plus ``drop``).

    ``tool_calls`` is a list of ``{"name", "arguments", "id"?}``; ``"drop": true`` closes
    the connection without a response; ``message`` sets an error's text.
    """
    fields = dict(data)
    calls = [
        tool_call(c["name"], c.get("arguments", "{}"), c.get("id")) for c in fields.pop("tool_calls", [])
    ]
    if fields.pop("drop", False):
        fields["drop_after"] = 0
    message = fields.pop("message", None)
    status = int(fields.get("status", 200))
    if status != 200 and fields.get("body") is None:
        fields["body"] = error_body(message or HTTPStatus(status).phrase, status)
    allowed = set(Answer.__dataclass_fields__) - {"hold", "held", "hung_up"}  # events can't be JSON
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"unknown answer field(s) in script: {', '.join(sorted(unknown))}")
    return Answer(tool_calls=calls, **fields)


def request_error(body: Any) -> str | None:
    """Why OpenAI would answer 400 to this request, for the checks it is known to make
    (None: it would take it): tool-call ids repeated within one assistant message."""
    for message in (body.get("messages") if isinstance(body, dict) else None) or []:
        ids = [call.get("id") for call in (message.get("tool_calls") or []) if isinstance(call, dict)]
        if len(ids) != len(set(ids)):
            return f"Duplicate value for 'tool_call_id' of {ids} in an assistant message."
    return None


def message_text(body: Any) -> str:
    """All message contents of a request body, joined: what ``Answer.match`` looks in."""
    if not isinstance(body, dict):
        return ""
    parts = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        parts.append(content if isinstance(content, str) else json.dumps(content))
    return "\n".join(parts)


def _pieces(text: str, size: int) -> list[str]:
    """``text`` in fragments of ``size`` characters (at least two when it has two)."""
    if len(text) > 1:
        size = max(1, min(size, (len(text) + 1) // 2))
    return [text[i : i + size] for i in range(0, len(text), max(1, size))]


def _usage(answer: Answer, request: dict[str, Any]) -> dict[str, int] | None:
    if answer.usage is False:
        return None
    if isinstance(answer.usage, dict):
        return dict(answer.usage)
    prompt = max(1, len(json.dumps(request.get("messages", []))) // 4)
    written = len(answer.content) + sum(len(c.name) + len(c.arguments) for c in answer.tool_calls)
    completion = max(1, written // 4)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _header(answer: Answer, request: dict[str, Any], kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:20]}",
        "object": kind,
        "created": int(time.time()),
        "model": answer.model or request.get("model") or "scripted",
        "system_fingerprint": "fp_scripted",
    }


def _finish(answer: Answer) -> str:
    return answer.finish_reason or ("tool_calls" if answer.tool_calls else "stop")


def completion_body(answer: Answer, request: dict[str, Any]) -> dict[str, Any]:
    """The JSON ``chat.completion`` object answering a non-streaming request."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.content if answer.content or not answer.tool_calls else None,
        "refusal": None,
    }
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in answer.tool_calls
        ]
    body = _header(answer, request, "chat.completion")
    body["choices"] = [{"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(answer)}]
    usage = _usage(answer, request)
    if usage is not None:
        body["usage"] = usage
    return body


def stream_events(answer: Answer, request: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``chat.completion.chunk`` events answering a streaming request, as OpenAI sends them."""
    options = request.get("stream_options") or {}
    include_usage = bool(options.get("include_usage"))
    header = _header(answer, request, "chat.completion.chunk")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        event = {**header, "choices": [choice]}
        if include_usage:
            event["usage"] = None
        return event

    first: dict[str, Any] = {"role": "assistant", "content": None if answer.tool_calls else ""}
    events = [chunk(first)]
    events += [chunk({"content": piece}) for piece in _pieces(answer.content, answer.chunk_size)]
    for index, call in enumerate(answer.tool_calls):
        opening = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        later: dict[str, Any] = {} if answer.no_index else {"index": index}
        if answer.no_index:
            del opening["index"]
        events.append(chunk({"tool_calls": [opening]}))
        for piece in _pieces(call.arguments, answer.chunk_size):
            events.append(chunk({"tool_calls": [{**later, "function": {"arguments": piece}}]}))
    events.append(chunk({}, _finish(answer)))
    usage = _usage(answer, request)
    if include_usage and usage is not None:
        events.append({**header, "choices": [], "usage": usage})
    return events
