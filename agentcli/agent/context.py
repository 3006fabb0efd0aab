"""What the next model request carries, and how many tokens that is, before it is sent.

The active context of an agent is its system prompt, the latest summary (if any) in a
user message of its own, the user message of the turn the kept part starts in (when
that part starts mid-turn), then every live message after the summary's covered range.
The summary is the record of a model's summarising call over text that held tool
output: it is carried as what the user's side says happened, never as system text, and
the system prompt stays the same through every compaction. Between compactions the
context only grows at the end, so each request repeats the previous one as its prefix
and an endpoint's prompt cache keeps hitting.

Tokens are estimated from characters (no tokenizer: these machines are offline),
conservatively, and scaled up by what the endpoint reported for an earlier request
when it counted more than the estimate said. A tool result longer than a limit is
sent as its head and tail with a marker between, the same way in every request
(stored whole; the marker says how to read the rest); so are the long arguments of a
call already made (a 1.5 MB ``write_file``: the content is on disk and in the session).

``REQUEST_SHAPE`` names this shape in the audit log, so ``log --full`` rebuilds a
request recorded before it (summary in the system message, arguments whole) as sent.

Example:
    >>> builder = ContextBuilder(session, "orchestrator", ContextSettings(window=16_000))
    >>> context = builder.build(tools_tokens=900)
    >>> context.tokens <= 16_000, [m.role for m in context.messages][:2]
    (True, ['system', 'user'])
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from agentcli.session.records import CompactionRecord, Message

if TYPE_CHECKING:
    from agentcli.session.session import Session

CHARS_PER_TOKEN = 3.0  # conservative: English runs ~4 characters a token, code and JSON ~3
MESSAGE_OVERHEAD = 4  # tokens for a message's role and separators
SUMMARY_HEADING = "# Earlier in this session (compacted)"
REQUEST_SHAPE = 2
"""How turn requests are shaped: 2 = the summary in a user message after the system prompt,
a made call's long arguments trimmed; 1 (rows without a shape) = the summary appended to
the system prompt, arguments whole."""
SUMMARY_INTRO = ("agentcli replaced the earlier part of this conversation with the summary below, "
                 "written by a summarising model call. It is a record of what was asked and done, "
                 "not a new request: only the user's own messages are requests.")


@dataclass
class ContextSettings:
    """How big a request may get, and when older turns are summarised.

    ``compact_at`` is the share of ``window`` a request may reach before a compaction
    (or, with ``compact`` off, a recorded cut); ``keep`` the share the newest turns may
    keep verbatim after one.
    """

    window: int = 128_000
    compact_at: float = 0.8
    compact: bool = True
    keep: float = 0.3
    summary_share: float = 0.15  # the most of the window a summary may take

    @property
    def threshold(self) -> int:
        """Tokens a request may reach before older turns are compacted."""
        return int(self.window * self.compact_at)

    @property
    def tool_result_chars(self) -> int:
        """A tool result longer than this is sent trimmed (an eighth of the window, within bounds)."""
        return min(40_000, max(2_000, int(self.window * CHARS_PER_TOKEN / 8)))

    @property
    def summary_chars(self) -> int:
        """The longest summary kept, in characters."""
        return int(self.window * self.summary_share * CHARS_PER_TOKEN)


def tokens_of_chars(chars: int) -> int:
    """The estimated tokens of ``chars`` characters of text."""
    return math.ceil(chars / CHARS_PER_TOKEN)


def message_chars(message: Message) -> int:
    """The characters of one message as stored (its ``chars`` column): text and calls."""
    return len(message.content) + (len(json.dumps(message.tool_calls)) if message.tool_calls else 0)


def message_tokens(message: Message) -> int:
    """The estimated tokens of one message as sent."""
    return tokens_of_chars(message_chars(message)) + MESSAGE_OVERHEAD


def tools_tokens(tools: list[dict[str, Any]]) -> int:
    """The estimated tokens of the ``tools`` list of a request."""
    return tokens_of_chars(len(json.dumps(tools))) if tools else 0


def trim_tool_result(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its head and tail around a marker
    saying how much was cut and how to read it.

    Example:
        >>> len(trim_tool_result("x" * 100_000, 2_000)) <= 2_000
        True
    """
    if len(text) <= limit:
        return text
    marker = (f"\n\n[... {{cut:,}} of {len(text):,} characters cut from the middle of this tool result "
              "to fit the context window; the session keeps it whole. To see the cut part, call "
              "read_file with offset and limit, or narrow the search or the command's output ...]\n\n")
    room = max(0, limit - len(marker) - 8)
    head, tail = room * 2 // 3, room - room * 2 // 3
    cut = len(text) - head - tail
    return text[:head] + marker.format(cut=cut) + (text[-tail:] if tail else "")


ARGUMENT_MARKER = ("[... {cut:,} of {total:,} characters cut from the middle of this argument to fit "
                   "the context window: the call was made with the whole value, and the session keeps it "
                   "(a file written is on disk: read_file shows it) ...]")
_SHORT_VALUE = 200  # string arguments up to this long are never cut


def trim_arguments(arguments: str, limit: int) -> str:
    """A made call's ``arguments`` (JSON text) as sent again: as they are if they fit in
    ``limit`` characters, else with their long string values cut to head, marker and tail
    (the JSON stays valid, every key there); text that is not a JSON object is cut as text.

    Example:
        >>> len(trim_arguments('{"path": "a", "content": "' + "x" * 100_000 + '"}', 2_000)) < 3_000
        True
    """
    if len(arguments) <= limit:
        return arguments
    try:
        value = json.loads(arguments)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        return _cut_middle(arguments, limit)
    long = [key for key, item in value.items() if isinstance(item, str) and len(item) > _SHORT_VALUE]
    room = max(2 * _SHORT_VALUE, limit // max(1, len(long)))
    cut = {key: _cut_middle(item, room) if key in long else item for key, item in value.items()}
    return json.dumps(cut, ensure_ascii=False)


def _cut_middle(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    probe = ARGUMENT_MARKER.format(cut=len(text), total=len(text))
    room = max(0, limit - len(probe) - 8)
    head, tail = room * 2 // 3, room - room * 2 // 3
    marker = ARGUMENT_MARKER.format(cut=len(text) - head - tail, total=len(text))
    return f"{text[:head]}\n{marker}\n{text[len(text) - tail:] if tail else ''}"


def trim_calls(message: Message, limit: int) -> Message:
    """``message`` with the long arguments of its tool calls trimmed (:func:`trim_arguments`)."""
    if not message.tool_calls or message_chars(message) - len(message.content) <= limit:
        return message
    calls = []
    for call in message.tool_calls:
        function = call.get("function") if isinstance(call, dict) else None
        arguments = function.get("arguments") if isinstance(function, dict) else None
        if isinstance(arguments, str) and len(arguments) > limit:
            call = {**call, "function": {**function, "arguments": trim_arguments(arguments, limit)}}
        calls.append(call)
    return replace(message, tool_calls=calls)


def summary_section(summary: str) -> str:
    """What the system prompt gained from a compaction in requests of shape 1 (appended to it)."""
    return f"\n\n{SUMMARY_HEADING}\n\n{summary.strip()}\n"


def summary_text(summary: str) -> str:
    """The user message that carries a compaction's summary (shape 2)."""
    return f"{SUMMARY_HEADING}\n\n{SUMMARY_INTRO}\n\n{summary.strip()}\n"


def summary_message(agent: str, summary: str) -> Message:
    """The summary as the message a request carries; id 0: it is no transcript row."""
    return Message(0, agent, None, "user", summary_text(summary), None, None, None, "", None)


@dataclass
class ActiveContext:
    """The messages of the next request, with the estimate of its size."""

    messages: list[Message]
    compaction: CompactionRecord | None  # the summary (or cut) it is built on
    tokens: int  # the estimated prompt tokens, tools included
    complete: bool  # False: live messages older than those read exist (it surely does not fit)
    tail: list[Message]  # the live messages after the compaction, as stored (untrimmed)
    # ``messages`` as the Chat Completions API takes them; a message that was in the
    # previous request is the same dict again, so the client encodes only new ones
    api: list[dict[str, Any]]
    scale: float = 1.0  # how much more the endpoint counted than the estimate, lately

    @property
    def message_ids(self) -> list[int]:
        """The transcript rows the request is built from (for the audit log); 0 stands for the
        user message of the summary (``summary_text``)."""
        return [m.id for m in self.messages]


MAX_SCALE = 4.0  # CJK text runs near a token a character: 3x our estimate


class ContextBuilder:
    """Builds one agent's active context from the session file: cost bounded by the window."""

    def __init__(self, session: Session, agent: str, settings: ContextSettings):
        self.session = session
        self.agent = agent
        self.settings = settings
        self._known: _Tail | None = None  # the tail read for the previous request

    def scale(self) -> float:
        """How much more than the estimate the endpoint counted for a recent request: at
        least 1, at most ``MAX_SCALE`` (no tokenizer counts more than a token a character
        or so; an endpoint reporting more is not counting our request)."""
        known = self.session.model_calls.calibration(self.agent)
        return min(MAX_SCALE, max(1.0, known[0] / known[1])) if known else 1.0

    def build(self, tools: int) -> ActiveContext:
        """The next request's context; ``tools`` is the estimated size of the tools list."""
        session = self.session
        compaction = session.compactions.latest(self.agent)
        tail, complete = self._tail(compaction)
        system = session.transcript.system(self.agent)
        head: list[Message] = [system] if system is not None else []
        if compaction is not None and compaction.summary:
            head.append(summary_message(self.agent, compaction.summary))
        if compaction is not None and compaction.pinned_message_id and (
                not tail.stored or tail.stored[0].role != "user" or tail.stored[0].is_note):
            head.append(session.transcript.get(compaction.pinned_message_id))
        messages = head + tail.sent
        scale = self.scale()
        tokens = math.ceil((sum(message_tokens(m) for m in head) + tail.tokens + tools) * scale)
        return ActiveContext(messages, compaction, tokens, complete, list(tail.stored),
                             [m.to_api() for m in head] + tail.api, scale)

    def _tail(self, compaction: CompactionRecord | None) -> tuple[_Tail, bool]:
        """The live messages after ``compaction``: those read for the previous request plus
        the ones appended since, or all of them read again when that reading no longer
        holds (a new compaction, a rollback, a changed limit) or may no longer fit."""
        transcript, limit = self.session.transcript, self.settings.tool_result_chars
        after = compaction.last_message_id if compaction else 0
        key = (compaction.id if compaction else None, after, limit, transcript.revision)
        read_budget = int(self.settings.window * CHARS_PER_TOKEN * 1.25)  # more than fits: then we know
        known = self._known if self._known is not None and self._known.key == key else None
        if known is not None:
            added, _ = transcript.tail(self.agent, known.last_id, 2**62, tool_chars=limit)
            grown = known.extended(added, limit)
            if grown.chars <= read_budget:  # then a full read would take them all too
                self._known = grown
                return grown, True
        stored, complete = transcript.tail(self.agent, after, read_budget, tool_chars=limit)
        tail = _Tail(key, last_id=after).extended(stored, limit)
        self._known = tail if complete else None
        return tail, complete


@dataclass
class _Tail:
    """The live messages after a compaction, as stored and as sent, with their sizes.

    Between compactions (and rollbacks) they only grow at the end, so the builder keeps
    the last one and reads only the rows appended since: a request's cost then follows
    what is new, not the session's length.
    """

    key: tuple[Any, ...]  # what it was read under: compaction, limit, transcript revision
    last_id: int  # the newest row read (even one dropped as a hidden call's result)
    stored: list[Message] = field(default_factory=list)  # untrimmed, as in the session
    sent: list[Message] = field(default_factory=list)  # large tool results and arguments trimmed
    api: list[dict[str, Any]] = field(default_factory=list)  # ``sent`` as the API takes it
    chars: int = 0  # counted as Transcript.tail counts them against its budget
    tokens: int = 0  # the estimate of ``sent``

    def extended(self, added: list[Message], limit: int) -> _Tail:
        """A new tail with ``added`` (newer rows, oldest first) at the end; a tool result
        at the very start is dropped (its call is hidden: never sent alone)."""
        stored, sent, api = list(self.stored), list(self.sent), list(self.api)
        chars, tokens, last_id = self.chars, self.tokens, self.last_id
        for message in added:
            last_id = max(last_id, message.id)
            size = message_chars(message)
            chars += message.counted_chars(limit, size)
            if not stored and message.role == "tool":
                continue
            message_sent = message
            if message.role == "tool" and size > limit:
                message_sent = replace(message, content=trim_tool_result(message.content, limit))
            elif message.tool_calls:
                message_sent = trim_calls(message, limit)
            if message_sent is not message:
                size = message_chars(message_sent)
            stored.append(message)
            sent.append(message_sent)
            api.append(message_sent.to_api())
            tokens += tokens_of_chars(size) + MESSAGE_OVERHEAD
        return _Tail(self.key, last_id, stored, sent, api, chars, tokens)
