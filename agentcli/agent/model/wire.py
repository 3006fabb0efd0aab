"""The exact bytes of a Chat Completions request, built in one place.

The client sends :func:`request_bytes`; ``agentcli log --full`` rebuilds a recorded
request with the same functions from its stored body and transcript rows, so what it
shows is byte for byte what went over the wire.
"""

from __future__ import annotations

import json
import threading
from typing import Any


def wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as strict servers accept them: tool-calling assistants get ``content: ""``,
    and an empty ``tool_calls`` list (refused by OpenAI) is left out."""
    wire = []
    for message in messages:
        if message.get("role") == "assistant" and "tool_calls" in message and (
                not message["tool_calls"] or message.get("content") is None):
            message = dict(message)  # a copy: the caller's dict stays as it was (and its identity
            if not message["tool_calls"]:  # is what RequestEncoder remembers)
                del message["tool_calls"]
            else:
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


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class RequestEncoder:
    """:func:`request_bytes` that remembers each message's JSON between requests.

    A session's request repeats the previous one as its prefix, so encoding it whole
    each time costs more the longer the session runs. This encodes only the messages
    it has not seen, told apart by identity (the context builder hands out the same
    dict for a message each time; a sent message dict is never changed). The bytes are
    those of :func:`request_bytes`, one memory per thread (each agent its own).

    Example:
        >>> encoder = RequestEncoder()
        >>> encoder.encode(body) == request_bytes(body)
        True
    """

    def __init__(self) -> None:
        self._local = threading.local()

    def encode(self, body: dict[str, Any]) -> bytes:
        """``body`` serialised as sent; messages from the previous call are not encoded again."""
        known: dict[int, tuple[Any, str]] = getattr(self._local, "known", {})
        kept: dict[int, tuple[Any, str]] = {}

        def text(value: Any) -> str:
            entry = known.get(id(value))
            if entry is None or entry[0] is not value:  # the same id, another object: stale
                entry = (value, _dumps(value))
            kept[id(value)] = entry
            return entry[1]

        parts = []
        for key, value in body.items():
            if key == "messages":
                encoded = "[" + ",".join(text(message) for message in value) + "]"
            elif key == "tools" and value:
                encoded = text(value)  # the same list for every request of a runner
            else:
                encoded = _dumps(value)
            parts.append(_dumps(key) + ":" + encoded)
        self._local.known = kept  # the entries holding their objects keep the ids unique
        return ("{" + ",".join(parts) + "}").encode("utf-8")


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
