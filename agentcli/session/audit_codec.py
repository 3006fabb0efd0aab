"""How the audit log stores a request compactly, and reads it back whole.

A request is stored as its body without ``messages`` and ``tools``; the tools list (the
same on every request, ~4 KB) is one content-addressed blob, and the transcript rows
the request carried are a list of id ranges. Both make a row's size independent of the
session's length.

Example:
    >>> encode_ids([1, 2, 3, 7, 9, 10])
    '1-3,7,9-10'
    >>> decode_ids('1-3,7,9-10')
    [1, 2, 3, 7, 9, 10]
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from agentcli.store.blobs import PackedBlob, pack_blob


def encode_ids(ids: Iterable[int]) -> str:
    """Ascending runs of ids as ``a-b`` (or ``a`` alone), comma-separated, in order."""
    parts: list[str] = []
    start = prev = None
    for value in ids:
        if start is not None and value == prev + 1:  # type: ignore[operator]
            prev = value
            continue
        if start is not None:
            parts.append(f"{start}-{prev}" if prev != start else f"{start}")
        start = prev = value
    if start is not None:
        parts.append(f"{start}-{prev}" if prev != start else f"{start}")
    return ",".join(parts)


def decode_ids(text: str | None) -> list[int]:
    """The ids of :func:`encode_ids`' text; a JSON list (files before schema 5) reads too."""
    if not text:
        return []
    if text.startswith("["):
        return [int(i) for i in json.loads(text)]
    ids: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        ids.extend(range(int(first), int(last or first) + 1))
    return ids


def tools_json(tools: Any) -> bytes:
    """The stored form of a tools list: its JSON, as sent."""
    return json.dumps(tools).encode("utf-8")


def tools_blob(tools: Any) -> PackedBlob:
    """The blob that stores a tools list once, whatever the number of requests."""
    return pack_blob(tools_json(tools))


SHAPE_KEY = "agentcli_shape"
"""Key of a stored request body naming how its messages were shaped from the transcript
(``agent/context.py``'s ``REQUEST_SHAPE``); never sent. Rows without it have shape 1."""


def split_request(request: dict[str, Any], *, keep_messages: bool = False,
                  shape: int | None = None) -> tuple[dict[str, Any], Any]:
    """A request body without ``tools`` (and without ``messages`` unless ``keep_messages``),
    with ``SHAPE_KEY`` when ``shape`` is given, and its tools list (or None)."""
    dropped = ("tools",) if keep_messages else ("messages", "tools")
    body = {k: v for k, v in request.items() if k not in dropped}
    if shape is not None:
        body[SHAPE_KEY] = shape
    return body, request.get("tools")


def pop_shape(body: dict[str, Any]) -> int:
    """Take ``SHAPE_KEY`` out of a stored body: the request's shape (1 when it has none)."""
    shape = body.pop(SHAPE_KEY, 1)
    return shape if isinstance(shape, int) and not isinstance(shape, bool) else 1


def join_request(body: dict[str, Any], tools: Any) -> dict[str, Any]:
    """The stored body with its tools put back where the client sends them (after model)."""
    if tools is None:
        return dict(body)
    joined: dict[str, Any] = {}
    for key, value in body.items():
        joined[key] = value
        if key == "model":
            joined["tools"] = tools
    if "tools" not in joined:
        joined["tools"] = tools
    return joined


FROM_MESSAGE = "agentcli_from_message"
"""Key of a stored response whose long fields are read from the transcript message."""
_LONG = 200  # characters: shorter text stays in the row, readable with any SQLite tool


def compact_response(response: Any, message_id: int, content: str,
                     tool_calls: list[dict[str, Any]] | None) -> Any:
    """``response`` with its long text and arguments set to None where the message (the
    answer as stored) holds exactly them; a ``FROM_MESSAGE`` entry says which."""
    try:
        message = response["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        return response
    if not isinstance(message, dict):
        return response
    moved: dict[str, Any] = {"id": message_id}
    compact = json.loads(json.dumps(response))
    target = compact["choices"][0]["message"]
    if isinstance(message.get("content"), str) and len(message["content"]) > _LONG \
            and message["content"] == content:
        target["content"] = None
        moved["content"] = True
    stored = tool_calls or []
    positions = []
    for position, call in enumerate(target.get("tool_calls") or []):
        function = call.get("function") if isinstance(call, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        if (isinstance(arguments, str) and len(arguments) > _LONG and position < len(stored)
                and (stored[position].get("function") or {}).get("arguments") == arguments):
            function["arguments"] = None
            positions.append(position)
    if positions:
        moved["arguments"] = positions
    if len(moved) == 1:
        return response
    compact[FROM_MESSAGE] = moved
    return compact


def expand_response(response: dict[str, Any], message_of: Any) -> dict[str, Any]:
    """The response as received, from its compact form and its message (``message_of(id)``)."""
    moved = response.get(FROM_MESSAGE) or {}
    message = message_of(moved.get("id"))
    full = {k: v for k, v in response.items() if k != FROM_MESSAGE}
    if message is None:
        return full
    target = full["choices"][0]["message"]
    if moved.get("content"):
        target["content"] = message.content
    for position in moved.get("arguments", []):
        target["tool_calls"][position]["function"]["arguments"] = (
            message.tool_calls[position]["function"]["arguments"])
    return full
