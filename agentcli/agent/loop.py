"""The agent loop: decide each next step from the session file alone, then do it.

The rule that makes resume exact: every step's record is committed before the step
acts, and the next step is read back from the tables, never from memory. So the same
code drives a fresh prompt and a turn resumed after ``kill -9``. For one agent (its own
rows, told apart by the ``agent`` column):

- the last live message is a user or tool message → ask the model (unless the step
  limit is reached);
- it is an assistant message with tool calls → run the calls that have no result yet
  (reconciling any caught ``running`` by a crash), each journaled before it acts;
- it is an assistant message without tool calls → the turn is done (an answer cut off
  at the output limit is followed by a note, a user message: see continuation.py).

:class:`AgentLoop` is that loop for any named agent; the :class:`Orchestrator` is the
agent named ``orchestrator``, fed by the queue of user prompts, with a checkpoint
before each. A :class:`~agentcli.agent.cancel.CancelToken` stops either at the next
check; the stop is recorded and the turn stays resumable unless the person dropped it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from agentcli.agent.audit import AuditedRequest
from agentcli.agent.cancel import Cancelled, CancelToken
from agentcli.agent.compaction import Compactor
from agentcli.agent.context import REQUEST_SHAPE, ContextSettings
from agentcli.agent.continuation import joined_answer
from agentcli.agent.events import Event, EventSink
from agentcli.agent.model.protocol import Model
from agentcli.agent.runner import ToolRunner
from agentcli.errors import ModelEndpointError
from agentcli.session.records import ORCHESTRATOR, Message, Prompt

if TYPE_CHECKING:
    from agentcli.agent.history.tracker import Tracker
    from agentcli.session.session import Session

class TranscriptError(RuntimeError):
    """The transcript breaks a rule the loop relies on (a bug, never the model's fault)."""


@dataclass
class TurnResult:
    """How a run of the loop ended, for the interface to report and map to an exit code."""

    status: str  # done, failed, interrupted
    answer: str = ""
    error: str | None = None
    exit_code: int = 0
    prompt_ids: list[int] = field(default_factory=list)
    resumable: bool = False  # the turn stays open: ``agentcli resume`` takes it up again
    # why it stopped, for the interface's advice and ``session.finished``: max_turns,
    # gave_up, endpoint, budget, interrupted (None when done)
    reason: str | None = None
    refused: bool = False  # the endpoint refused the request (400/401/403/404): see ModelEndpointError

    @property
    def session_status(self) -> str:
        """What ``meta.status`` records after this run (the words of :data:`SESSION_STATUSES`):
        ``idle`` when it went well; ``cancelled`` for a turn the person stopped and will not
        resume; ``budget`` for a run that spent its ``--max-cost``/``--max-tokens``;
        ``failed`` when the endpoint refused the request (a bad key, model or URL) or the
        model gave up; ``interrupted`` for the rest, which resume takes up again (a crash or
        a signal, an endpoint down after its retries, the turn limit)."""
        if self.status == "done":
            return "idle"
        if self.status == "interrupted":
            return "interrupted" if self.resumable else "cancelled"
        if self.reason == "budget":
            return "budget"
        if self.refused or self.reason == "gave_up" or not self.resumable:
            return "failed"
        return "interrupted"


class AgentLoop:
    """One agent's steps: ask its model, run its tool calls, until it answers.

    Example:
        >>> loop = AgentLoop(session, "orchestrator", model, runner, emit, context_window=128_000)
        >>> loop.run_turn(prompt_id=1, cancel=token, max_steps=100)
        TurnResult(status='done', answer='Fixed.', ...)
    """

    def __init__(self, session: Session, agent: str, model: Model, runner: ToolRunner, emit: EventSink,
                 *, context_window: int, context: ContextSettings | None = None):
        self.session = session
        self.agent = agent
        self.model = model
        self.runner = runner
        self.emit = emit
        settings = replace(context or ContextSettings(), window=context_window)
        self.compactor = Compactor(session, agent, model, emit, settings)

    def run_turn(self, prompt_id: int | None, cancel: CancelToken, max_steps: int) -> TurnResult:
        """Step until the agent answers without tool calls, or ``max_steps`` model calls.

        The step budget counts this run only: a resumed turn gets a fresh one.
        """
        transcript = self.session.transcript
        asked = 0  # each answered request appends one reply (a failed one ends the run)
        while True:
            cancel.check()
            last = transcript.last(self.agent)
            if last is not None and last.role == "assistant" and last.tool_calls:
                self.runner.run_calls(last, prompt_id, cancel)
                continue
            if last is not None and last.role == "assistant":  # never empty: see model/reply.py
                return TurnResult("done", answer=joined_answer(self.session, self.agent, last))
            if asked >= max_steps:
                return TurnResult("failed", error=f"turn limit reached: {max_steps} model calls for "
                                  "this prompt", exit_code=1, resumable=True, reason="max_turns")
            self.ask(prompt_id, cancel)
            asked += 1

    def ask(self, prompt_id: int | None, cancel: CancelToken) -> Message:
        """One model request from the agent's active context (compacted first when it would
        pass ``compact_at`` of the window); its answer is committed."""
        tools = self.runner.schemas()
        context = self.compactor.prepare(prompt_id, cancel, tools)
        _check_answered(context.messages)
        audit = AuditedRequest(self.session, self.agent, prompt_id=prompt_id, message_ids=context.message_ids,
                               emit=self.emit, estimated_tokens=context.tokens,
                               compaction_id=context.compaction.id if context.compaction else None,
                               tool_result_chars=self.compactor.settings.tool_result_chars,
                               shape=REQUEST_SHAPE)
        self.emit(Event("model.request", {"agent": self.agent, "prompt": prompt_id,
                                          "messages": len(context.messages), "tokens": context.tokens,
                                          "window": self.compactor.settings.window}))
        reply = self.model.complete(
            context.api, tools, log=audit, cancel=cancel,
            on_text=lambda text: self.emit(Event("assistant.delta", {"agent": self.agent, "text": text})),
        )
        message = audit.answer
        assert message is not None, "a successful attempt commits its answer"
        usage = reply.usage
        self.emit(Event("assistant.message", {
            "agent": self.agent,
            "prompt": prompt_id,
            "content": message.content,
            "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in reply.tool_calls],
            "finish_reason": reply.finish_reason,
            "usage": None if usage is None else {
                "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens, "cached_tokens": usage.cached_tokens,
            },
        }))
        return message


class Orchestrator:
    """The agent that takes the user's prompts: a checkpoint, then a turn, for each.

    Example:
        >>> agent = Orchestrator(session, loop, tracker, emit, max_turns=100)
        >>> result = agent.run(CancelToken())   # an interrupted turn first, then queued prompts
    """

    def __init__(self, session: Session, loop: AgentLoop, tracker: Tracker, emit: EventSink, *,
                 max_turns: int):
        self.session = session
        self.loop = loop
        self.runner = loop.runner
        self.model = loop.model
        self.tracker = tracker
        self.emit = emit
        self.max_turns = max_turns
        self.held: set[int] = set()  # queued prompts this run leaves queued (typed ahead at a terminal)

    def run(self, cancel: CancelToken) -> TurnResult:
        """Work through every pending prompt, oldest first (but those ``held``); stop at
        the first that fails.

        A cancel is recorded (the turn ``interrupted``, or ``cancelled`` when the token
        says it is not to be resumed) and returned as an ``interrupted`` result.
        """
        self.session.model_calls.close_pending(ORCHESTRATOR, "agentcli stopped before the answer arrived")
        result, ran = TurnResult("done"), []
        while (prompt := self.session.prompts.next_pending(self.held)) is not None:
            ran.append(prompt.id)
            result = self._guarded_turn(prompt, cancel)
            if result.status != "done":
                break
        result.prompt_ids = ran
        self.session.update_meta(status=result.session_status)
        return result

    def _guarded_turn(self, prompt: Prompt, cancel: CancelToken) -> TurnResult:
        try:
            self._begin(prompt)
            outcome = self.loop.run_turn(prompt.id, cancel, self.max_turns)
        except Cancelled as stop:
            # what happened only: how to go on is the interface's to say (a terminal
            # session is not told to resume itself)
            outcome = TurnResult("interrupted", exit_code=130, resumable=cancel.resumable,
                                 error=f"interrupted ({stop})", reason="interrupted")
            status = "interrupted" if cancel.resumable else "cancelled"
            self.session.model_calls.close_pending(ORCHESTRATOR, "stopped before the answer arrived")
            if not cancel.resumable:  # dropped for good: the calls it did not reach get their result now
                self.runner.settle_unanswered()
            self.session.prompts.finish(prompt.id, status, "stopped before it finished")
            self.emit(Event("turn.finished", {"agent": ORCHESTRATOR, "prompt": prompt.id, "status": status}))
            return outcome
        except ModelEndpointError as err:
            outcome = TurnResult("failed", exit_code=err.exit_code, resumable=True, error=str(err),
                                 reason=getattr(err, "reason", "endpoint"), refused=err.refused)
        # A turn cut short by the endpoint or the turn limit is recorded as interrupted,
        # so resume takes it up again; a model that gave up is failed for good.
        self.session.prompts.finish(prompt.id, "interrupted" if outcome.resumable else outcome.status,
                                    outcome.error)
        if outcome.error:
            self.emit(Event("error", {"agent": ORCHESTRATOR, "message": outcome.error, "prompt": prompt.id}))
        self.emit(Event("turn.finished", {"agent": ORCHESTRATOR, "prompt": prompt.id,
                                          "status": outcome.status}))
        return outcome

    def _begin(self, prompt: Prompt) -> None:
        session = self.session
        resumed = prompt.status != "queued"
        if not resumed:
            self.runner.settle_unanswered()
            checkpoint = session.checkpoints.for_prompt(prompt.id) or self.tracker.checkpoint(prompt.id)
            self.emit(Event("checkpoint.created", {"checkpoint": checkpoint.id, "prompt": prompt.id}))
            with session.transaction():
                session.prompts.start(prompt.id)
                session.transcript.append("user", prompt.text, agent=ORCHESTRATOR, prompt_id=prompt.id)
                session.update_meta(status="running")
        else:
            with session.transaction():
                session.prompts.start(prompt.id)
                session.update_meta(status="running")
        self.emit(Event("turn.started", {"agent": ORCHESTRATOR, "prompt": prompt.id, "text": prompt.text,
                                         "resumed": resumed}))


def _check_answered(context: list[Message]) -> None:
    """Refuse to send a request with a tool call that has no result (SPEC §3)."""
    pending: set[str] = set()
    for message in context:
        if message.role == "assistant":
            if pending:
                break
            pending = {c["id"] for c in message.tool_calls or []}
        elif message.role == "tool":
            pending.discard(message.tool_call_id or "")
    if pending:
        raise TranscriptError(f"tool calls without results: {json.dumps(sorted(pending))}")
