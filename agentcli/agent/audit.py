"""The audit trail of one model request: each attempt a ``model_calls`` row, and the
answer committed together with its row, so a recorded answer is never asked for again.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from agentcli.agent.continuation import continue_if_cut
from agentcli.agent.events import Event, EventSink
from agentcli.agent.failpoints import failpoint
from agentcli.agent.model.protocol import Attempt
from agentcli.agent.model.reply import ModelReply
from agentcli.session.records import Message

if TYPE_CHECKING:
    from agentcli.session.session import Session


class AuditedRequest:
    """The :class:`~agentcli.agent.model.protocol.AttemptLog` of one request by one agent.

    Example:
        >>> audit = AuditedRequest(session, "orchestrator", prompt_id=3, message_ids=[1, 2], emit=print)
        >>> model.complete(messages, tools, log=audit)
        >>> audit.answer.id   # the assistant message, committed with its audit row
        7
    """

    purpose = "turn"  # model_calls.purpose of the rows it writes
    keeps_messages = False  # True: the messages are built for the request, stored as sent

    def __init__(self, session: Session, agent: str, *, prompt_id: int | None, message_ids: list[int],
                 emit: EventSink, estimated_tokens: int | None = None, compaction_id: int | None = None,
                 tool_result_chars: int | None = None, shape: int | None = None):
        self.session = session
        self.tool_result_chars = tool_result_chars
        self.shape = shape  # how the context shaped the rows into messages (context.REQUEST_SHAPE)
        self.agent = agent
        self.prompt_id = prompt_id
        self.message_ids = message_ids
        self.emit = emit
        self.estimated_tokens = estimated_tokens
        self.compaction_id = compaction_id
        self.answer: Message | None = None
        self._row: int | None = None

    def started(self, attempt: Attempt) -> None:
        """Journal the attempt ``pending`` before it is sent."""
        self._row = self.session.model_calls.begin(
            agent=self.agent, model=attempt.model, endpoint_host=attempt.endpoint_host,
            request=attempt.request, message_ids=self.message_ids, attempt=attempt.number,
            prompt_id=self.prompt_id, purpose=self.purpose, estimated_tokens=self.estimated_tokens,
            compaction_id=self.compaction_id, tool_result_chars=self.tool_result_chars,
            keep_messages=self.keeps_messages, shape=self.shape,
        )

    def retrying(self, attempt: Attempt, seconds: float) -> None:
        """Say why the attempt failed and when the next one goes (one line a retry)."""
        self.emit(Event("model.retry", {"agent": self.agent, "prompt": self.prompt_id,
                                        "attempt": attempt.number + 1, "reason": attempt.error,
                                        "wait_s": round(seconds, 2), "endpoint": attempt.endpoint_host,
                                        **({"attempts": attempt.allowed} if attempt.allowed else {})}))

    def ended(self, attempt: Attempt, reply: ModelReply | None) -> None:
        """Close the attempt's row; an answer is appended to the transcript in the same step."""
        assert self._row is not None, "ended() before started()"
        if reply is None:
            self.session.model_calls.finish(
                self._row, status="interrupted" if attempt.interrupted else "error",
                error=attempt.error, http_status=attempt.http_status, latency_ms=attempt.latency_ms,
            )
            return
        usage = reply.usage
        tokens = (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) if usage else None
        try:
            with self.session.transaction():
                message = self.commit_answer(self._row, reply)
                self.session.model_calls.finish(
                    self._row, status="ok", response=reply.response, http_status=attempt.http_status,
                    latency_ms=attempt.latency_ms, usage=tokens,
                    cached_tokens=usage.cached_tokens if usage else None, message=message,
                )
        except (OSError, sqlite3.Error) as err:
            self._not_stored(attempt, err)
            raise
        failpoint("model.answered")

    def _not_stored(self, attempt: Attempt, err: BaseException) -> None:
        """The answer arrived but its transaction failed (a full disk): say so on its audit row
        if a small write still fits, so the log never shows it as lost in flight."""
        try:
            self.session.model_calls.finish(
                self._row, status="error", http_status=attempt.http_status, latency_ms=attempt.latency_ms,
                error=f"the answer arrived but could not be stored ({err}); resume asks again",
            )
        except (OSError, sqlite3.Error):  # not even that fits: resume closes the row
            pass

    def commit_answer(self, row: int, reply: ModelReply) -> Message | None:
        """Record what the answer is for, inside the transaction that closes its audit row:
        for an agent's turn, the assistant message appended to its transcript (returned, so
        the audit row can refer to it for long text instead of storing it twice), and the note
        that goes on after an answer cut off at the output limit (continuation.py)."""
        calls = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                 for c in reply.tool_calls]
        self.answer = self.session.transcript.append(
            "assistant", reply.content, agent=self.agent, prompt_id=self.prompt_id,
            tool_calls=calls or None, model_call_id=row,
        )
        continue_if_cut(self.session, self.agent, self.answer, reply, row)
        return self.answer
