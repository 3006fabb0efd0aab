"""The audit trail of one model request: each attempt a ``model_calls`` row, and the
answer committed together with its row, so a recorded answer is never asked for again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

    def __init__(self, session: Session, agent: str, *, prompt_id: int | None, message_ids: list[int],
                 emit: EventSink):
        self.session = session
        self.agent = agent
        self.prompt_id = prompt_id
        self.message_ids = message_ids
        self.emit = emit
        self.answer: Message | None = None
        self._row: int | None = None
        self._last_error: str | None = None  # why the previous attempt failed, told with a retry

    def started(self, attempt: Attempt) -> None:
        """Journal the attempt ``pending`` before it is sent."""
        self._row = self.session.model_calls.begin(
            agent=self.agent, model=attempt.model, endpoint_host=attempt.endpoint_host,
            request=attempt.request, message_ids=self.message_ids, attempt=attempt.number,
            prompt_id=self.prompt_id,
        )
        if attempt.number:
            self.emit(Event("model.retry", {"agent": self.agent, "attempt": attempt.number,
                                            "prompt": self.prompt_id, "endpoint": attempt.endpoint_host,
                                            "error": self._last_error}))

    def ended(self, attempt: Attempt, reply: ModelReply | None) -> None:
        """Close the attempt's row; an answer is appended to the transcript in the same step."""
        assert self._row is not None, "ended() before started()"
        if reply is None:
            self._last_error = attempt.error
            self.session.model_calls.finish(
                self._row, status="interrupted" if attempt.interrupted else "error",
                error=attempt.error, http_status=attempt.http_status, latency_ms=attempt.latency_ms,
            )
            return
        usage = reply.usage
        tokens = (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) if usage else None
        calls = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                 for c in reply.tool_calls]
        with self.session.transaction():
            self.session.model_calls.finish(
                self._row, status="ok", response=reply.response, http_status=attempt.http_status,
                latency_ms=attempt.latency_ms, usage=tokens,
            )
            self.answer = self.session.transcript.append(
                "assistant", reply.content, agent=self.agent, prompt_id=self.prompt_id,
                tool_calls=calls or None, model_call_id=self._row,
            )
        failpoint("model.answered")
