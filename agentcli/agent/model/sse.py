"""Reading an answer off the wire: server-sent events, JSON pieces, a bounded body.

The client's reader thread turns a response into the pieces :class:`StreamAssembler`
takes. Nothing here reads without a bound: a line, an event or a non-streamed body past
``MAX_EVENT_BYTES`` raises :class:`AnswerTooLargeError` (a server that never ends a line
must not fill memory), and bytes that are not UTF-8 are the endpoint's error.

Example::

    for data in sse_data(response):
        if data == "[DONE]":
            break
        assembler.add(json_piece(data))
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from agentcli.agent.model.reply import MAX_ANSWER_CHARS, MalformedReplyError, too_large

MAX_EVENT_BYTES = 6 * MAX_ANSWER_CHARS + (1 << 20)
"""The most bytes of one server-sent event, one line of the stream, or a non-streamed
answer's body: room for an answer of ``MAX_ANSWER_CHARS`` characters all written as JSON
``\\uXXXX`` escapes. Past it the attempt fails as malformed (a line that never ends)."""


def sse_data(response: Any) -> Iterator[str]:
    """The ``data:`` payloads of a server-sent event stream, events joined as the spec says.

    Bytes are split into lines and decoded strictly here: invalid UTF-8 is the
    endpoint's error (:class:`MalformedReplyError`), not text to guess at.
    """
    data: list[str] = []
    size = 0
    for raw in _lines(response.iter_bytes()):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedReplyError("the endpoint sent bytes that are not UTF-8 in its stream") from None
        if not line:
            if data:
                yield "\n".join(data)
                data, size = [], 0
            continue
        if line.startswith("data:"):
            data.append(line[6:] if line.startswith("data: ") else line[5:])
            size += len(raw)
            if size > MAX_EVENT_BYTES:
                raise _event_too_large()
    if data:
        yield "\n".join(data)


def _event_too_large() -> MalformedReplyError:
    return too_large(f"an event or a line of more than {MAX_EVENT_BYTES:,} bytes in the stream")


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Lines (``\n``, ``\r\n`` or ``\r`` ended) of a byte stream, endings removed; a line
    longer than ``MAX_EVENT_BYTES`` raises ``AnswerTooLargeError``.

    The unfinished line is kept as a list of pieces, joined once it ends (joining it to each
    new piece would copy it again and again: quadratic in a long line). A ``\r`` ending a
    piece waits for the next one, which may start with the ``\n`` of the same ``\r\n``.
    """
    pending: list[bytes] = []  # pieces of the line not ended yet
    size = 0
    held = b""
    for chunk in chunks:
        chunk, held = held + chunk, b""
        if chunk.endswith(b"\r"):
            chunk, held = chunk[:-1], b"\r"
        *complete, rest = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        if complete:
            yield b"".join([*pending, complete[0]])
            yield from complete[1:]
            pending, size = [], 0
        if rest:
            pending.append(rest)
            size += len(rest)
            if size > MAX_EVENT_BYTES:
                raise _event_too_large()
    if held or pending:
        yield b"".join(pending)


def json_piece(data: str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise MalformedReplyError(f"a streamed chunk is not JSON: {data[:80]!r}") from None


def json_answer(response: Any) -> Any:
    """A non-streamed answer's JSON (read up to ``MAX_EVENT_BYTES``); an HTML page or other
    text is named, not parsed."""
    kind = response.headers.get("content-type", "")
    body: list[bytes] = []
    size = 0
    for piece in response.iter_bytes():
        body.append(piece)
        size += len(piece)
        if size > MAX_EVENT_BYTES:
            raise too_large(f"a body of more than {MAX_EVENT_BYTES:,} bytes")
    try:
        return json.loads(b"".join(body))
    except ValueError:
        what = kind.split(";")[0] or "something"
        raise MalformedReplyError(f"the endpoint answered {response.status_code} with {what}, not "
                                  "JSON — is --base-url the API's /v1 URL?") from None
