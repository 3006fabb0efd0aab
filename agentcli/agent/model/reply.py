"""The model's answer assembled: streamed chunks joined, a ``chat.completion`` read (SPEC §2).

:class:`StreamAssembler` builds the ``chat.completion`` dict a streamed answer amounts to;
:func:`reply_from_response` turns such a dict, streamed or not, into a
:class:`ModelReply`. No ``openai`` import: the chunks are read by attribute.

Example::

    assembler = StreamAssembler()
    for chunk in stream:
        print_delta(assembler.add(chunk))
    reply = reply_from_response(assembler.response())
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agentcli.session.records import token_count
from agentcli.store.blobs import content_hash


@dataclass
class ToolCallRequest:
    """A tool call the model asked for; ``arguments`` is its raw text, maybe invalid JSON."""

    id: str
    name: str
    arguments: str


@dataclass
class Usage:
    """Token counts as the endpoint reported them."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int | None = None  # prompt tokens the endpoint served from its prompt cache


@dataclass
class ModelReply:
    """The assembled answer; ``response`` is a JSON-able ``chat.completion`` for the audit log."""

    content: str
    tool_calls: list[ToolCallRequest]
    finish_reason: str | None
    usage: Usage | None
    response: dict[str, Any]


MAX_ANSWER_CHARS = 4_000_000
"""The most characters one answer may hold, its text and its tool calls' arguments together
(about a million tokens, far past any model's output limit): an answer that goes on past it
(an endless stream) fails its attempt as malformed instead of filling memory."""
MAX_TOOL_CALLS = 256
"""The most tool calls one answer may make; past it the attempt fails as malformed."""


class IncompleteReplyError(Exception):
    """An answer cut off or empty (a stream without a finish_reason, no choices, no text and
    no tool call): worth asking again."""


class MalformedReplyError(Exception):
    """The endpoint answered 200 with something that is not a chat completion."""


class AnswerTooLargeError(MalformedReplyError):
    """The answer passed ``MAX_ANSWER_CHARS`` or ``MAX_TOOL_CALLS``: not retried (an endless
    answer would only go on again), the turn stays resumable."""


def too_large(what: str) -> AnswerTooLargeError:
    """The error of an answer past the caps; ``what`` says how it is too large."""
    return AnswerTooLargeError(f"the answer is too large ({what}): agentcli takes at most "
                               f"{MAX_ANSWER_CHARS:,} characters of text and tool arguments, and "
                               f"{MAX_TOOL_CALLS} tool calls, in one answer")


class StreamAssembler:
    """Builds a ``chat.completion`` dict from streamed chunks (JSON dicts; tool calls joined by index).

    A chunk of the wrong shape raises :class:`MalformedReplyError`: an endpoint error,
    never a crash.
    """

    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        self.text: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self._by_id: dict[str, int] = {}  # call id to index, for servers that send no index
        self._top = 0  # the highest index so far: where a piece with neither index nor id goes
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.chunks = 0
        self.chars = 0  # of text and arguments so far, against MAX_ANSWER_CHARS

    def add(self, chunk: Any) -> str:
        """Take one chunk in; return the text it added."""
        if not isinstance(chunk, dict):
            raise MalformedReplyError(f"a streamed chunk is {type(chunk).__name__}, not an object")
        if "error" in chunk and "choices" not in chunk:
            raise MalformedReplyError(f"the endpoint sent an error in the stream: "
                                      f"{_error_text(chunk['error'])}")
        self.chunks += 1
        if not self.meta:
            self.meta = {k: chunk.get(k) for k in ("id", "created", "model")}
        if isinstance(chunk.get("usage"), dict):
            self.usage = {k: v for k, v in chunk["usage"].items() if v is not None}
        choices = chunk.get("choices") or []
        if not isinstance(choices, list):
            raise MalformedReplyError("a streamed chunk's choices are not a list")
        text = ""
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index") not in (0, None):
                continue
            delta = choice.get("delta") or {}
            if not isinstance(delta, dict):
                raise MalformedReplyError("a streamed chunk's delta is not an object")
            content = delta.get("content")
            if isinstance(content, str):
                text += content
            for call in delta.get("tool_calls") or []:
                if not isinstance(call, dict):
                    raise MalformedReplyError("a streamed tool call is not an object")
                self._add_call(call)
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        if text:
            self._count(len(text))
            self.text.append(text)
        return text

    def _count(self, chars: int) -> None:
        self.chars += chars
        if self.chars > MAX_ANSWER_CHARS:
            raise too_large(f"it went on past {MAX_ANSWER_CHARS:,} characters")

    def _add_call(self, call: dict[str, Any]) -> None:
        index = call.get("index")
        call_id = call.get("id")
        if not isinstance(call_id, str):
            call_id = str(call_id) if isinstance(call_id, int) and not isinstance(call_id, bool) else None
        if not isinstance(index, int):  # some servers omit it: a new id starts a new call
            index = self._by_id.get(call_id, len(self.calls)) if call_id else self._top
        if index not in self.calls and len(self.calls) >= MAX_TOOL_CALLS:
            raise too_large(f"more than {MAX_TOOL_CALLS} tool calls")
        slot = self.calls.setdefault(index, {"id": "", "name": "", "pieces": []})
        self._top = max(self._top, index)
        if not slot["id"] and call_id:
            slot["id"] = call_id
            self._by_id.setdefault(call_id, index)
        function = call.get("function")
        if isinstance(function, dict):
            slot["name"] = slot["name"] or function.get("name") or ""
            piece = function.get("arguments")
            if piece is not None:
                # pieces are joined once at the end: += on a growing string is quadratic
                piece = piece if isinstance(piece, str) else json.dumps(piece)
                self._count(len(piece))
                slot["pieces"].append(piece)

    def response(self) -> dict[str, Any]:
        """The assembled ``chat.completion`` dict."""
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text)}
        if self.calls:
            message["tool_calls"] = [
                {"id": slot["id"], "type": "function",
                 "function": {"name": slot["name"], "arguments": "".join(slot["pieces"])}}
                for _, slot in sorted(self.calls.items())
            ]
        choice = {"index": 0, "message": message, "finish_reason": self.finish_reason}
        return {**self.meta, "object": "chat.completion", "choices": [choice], "usage": self.usage}


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error)
    return str(error)


def reply_from_response(response: Any) -> ModelReply:
    """A ``ModelReply`` from a ``chat.completion`` dict; ``response`` is not changed.

    A tool call without an id gets one derived from the response and its position, and a
    call repeating an earlier call's id gets that id with its position appended, so parsing
    the same recorded response again (replay, audit) gives the same ids.

    Raises:
        MalformedReplyError: ``response`` is not a chat completion with a message, or
            (:class:`AnswerTooLargeError`) it is past ``MAX_ANSWER_CHARS`` / ``MAX_TOOL_CALLS``.
    """
    if not isinstance(response, dict):
        raise MalformedReplyError(f"the answer is {type(response).__name__}, not a chat completion")
    choices = response.get("choices")
    if isinstance(choices, list) and not choices:
        raise IncompleteReplyError("the answer has no choices")
    if not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise MalformedReplyError("the answer's choices are not a list of objects")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise MalformedReplyError("the answer's first choice has no message")
    calls = []
    raw_calls = message.get("tool_calls") or []
    if isinstance(raw_calls, list) and len(raw_calls) > MAX_TOOL_CALLS:
        raise too_large(f"{len(raw_calls)} tool calls")
    seen: set[str] = set()
    for position, raw in enumerate(raw_calls):
        if not isinstance(raw, dict):
            raise MalformedReplyError("a tool call in the answer is not an object")
        function = raw.get("function") or {}
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = "" if arguments is None else json.dumps(arguments)
        call_id = str(raw.get("id") or "") or _derived_id(response, position)
        if call_id in seen:  # the endpoint answers 400 to a request repeating an id
            call_id = _unique_id(call_id, position, seen)
        seen.add(call_id)
        calls.append(ToolCallRequest(id=call_id, name=str(function.get("name") or ""), arguments=arguments))
    usage = response.get("usage")
    content = message.get("content")
    content = content if isinstance(content, str) else ""
    if not content.strip() and not calls and message.get("refusal"):
        content = str(message["refusal"])
    if not content.strip() and not calls:
        raise IncompleteReplyError("the answer is empty: no text and no tool call")
    size = len(content) + sum(len(call.arguments) for call in calls)
    if size > MAX_ANSWER_CHARS:
        raise too_large(f"{size:,} characters")
    # The answer's own text must be real Unicode (else: an endpoint error). A tool call's
    # arguments are the tool's to judge: a lone surrogate there becomes an error result
    # the model can correct (tools/arguments.py), and is stored escaped.
    _check_text(content)
    return ModelReply(
        content=content,
        tool_calls=calls,
        finish_reason=choice.get("finish_reason"),
        usage=_usage(usage) if isinstance(usage, dict) else None,
        response=response,
    )


def _check_text(*texts: str) -> None:
    """Refuse text that cannot be stored or sent again as UTF-8 (a lone surrogate)."""
    for text in texts:
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedReplyError("the answer holds text that is not valid Unicode "
                                      "(a lone surrogate)") from None


def _unique_id(call_id: str, position: int, seen: set[str]) -> str:
    """A new id for the call at ``position`` whose id an earlier call of the answer has: the
    same for the same answer every time it is parsed (resume and audit read the same ids)."""
    candidate, n = f"{call_id}_{position}", 0
    while candidate in seen:
        n += 1
        candidate = f"{call_id}_{position}_{n}"
    return candidate


def _derived_id(response: dict[str, Any], position: int) -> str:
    digest = content_hash(json.dumps(response, sort_keys=True).encode())[:20]
    return f"call_{digest}_{position}"


def _usage(raw: dict[str, Any]) -> Usage | None:
    """The usage an endpoint reported, each count coerced (``token_count``): a count that is
    no count (a string, NaN, 1e400, a list, negative, huge) is as if it were not reported,
    and a usage without prompt and completion counts is None."""
    prompt = token_count(raw.get("prompt_tokens"))
    completion = token_count(raw.get("completion_tokens"))
    if prompt is None and completion is None:
        return None
    prompt, completion = prompt or 0, completion or 0
    details = raw.get("prompt_tokens_details")
    cached = token_count(details.get("cached_tokens")) if isinstance(details, dict) else None
    total = token_count(raw.get("total_tokens"))
    return Usage(prompt, completion, prompt + completion if total is None else total, cached)
