"""The exact bytes of a Chat Completions request, built in one place.

The client sends :func:`request_bytes`; ``agentcli log --full`` rebuilds a recorded
request with the same functions from its stored body and transcript rows, so what it
shows is byte for byte what went over the wire.
"""

from __future__ import annotations

import json
from typing import Any


def wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as strict servers accept them: tool-calling assistants get ``content: ""``,
    and an empty ``tool_calls`` list (refused by OpenAI) is left out."""
    wire = []
    for message in messages:
        if message.get("role") == "assistant" and "tool_calls" in message:
            message = dict(message)
            if not message["tool_calls"]:
                del message["tool_calls"]
            elif message.get("content") is None:
                message["content"] = ""
        wire.append(message)
    return wire


def request_body(model: str, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
                 stream: bool) -> dict[str, Any]:
    """The request as a dict, keys in the order they are sent."""
    body: dict[str, Any] = {"model": model, "messages": wire_messages(messages)}
    if tools:
        body["tools"] = tools
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def request_bytes(body: dict[str, Any]) -> bytes:
    """The body serialised once, as sent: compact JSON, UTF-8."""
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def with_messages(body: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any]:
    """A stored body (without ``messages``) with its messages put back where they were sent.

    ``request_bytes(with_messages(body, messages))`` is byte for byte the request sent.
    """
    rebuilt: dict[str, Any] = {}
    for key, value in body.items():
        rebuilt[key] = value
        if key == "model":
            rebuilt["messages"] = wire_messages(messages)
    rebuilt.setdefault("messages", wire_messages(messages))
    return rebuilt
