"""What the next model request carries, and how many tokens that is, before it is sent.

The active context of an agent is its system prompt (with the latest summary, if
any, appended), the user message of the turn the kept part starts in (when that
part starts mid-turn), then every live message after the summary's covered range.
Between compactions it only grows at the end, so each request repeats the previous
one as its prefix and an endpoint's prompt cache keeps hitting.

Tokens are estimated from characters (no tokenizer: these machines are offline),
conservatively, and scaled up by what the endpoint reported for an earlier request
when it counted more than the estimate said. A tool result longer than a limit is
sent as its head and tail with a marker between, the same way in every request
(stored whole; the marker says how to read the rest).

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


def summary_section(summary: str) -> str:
    """What the system prompt gains from a compaction (appended to it)."""
    return f"\n\n{SUMMARY_HEADING}\n\n{summary.strip()}\n"


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
        """The transcript rows the request is built from (for the audit log); 0 stands for a
        system message made of the summary alone (the agent has none of its own)."""
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
        if compaction is not None and compaction.summary:
            base = system or Message(0, self.agent, None, "system", "", None, None, None, "", None)
            system = replace(base, content=base.content + summary_section(compaction.summary))
        head: list[Message] = [system] if system is not None else []
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
    sent: list[Message] = field(default_factory=list)  # large tool results trimmed
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
            trimmed = message.role == "tool" and size > limit
            chars += limit if trimmed else size
            if not stored and message.role == "tool":
                continue
            message_sent = message
            if trimmed:
                message_sent = replace(message, content=trim_tool_result(message.content, limit))
                size = message_chars(message_sent)
            stored.append(message)
            sent.append(message_sent)
            api.append(message_sent.to_api())
            tokens += tokens_of_chars(size) + MESSAGE_OVERHEAD
        return _Tail(self.key, last_id, stored, sent, api, chars, tokens)
