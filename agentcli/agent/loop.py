"""The orchestrator loop: decide each next step from the session file alone, then do it.

The rule that makes resume exact: every step's record is committed before the step
acts, and the next step is read back from the tables, never from memory. So the same
code drives a fresh prompt and a turn resumed after ``kill -9``:

- the last live message is a user or tool message → ask the model (unless the turn
  limit is reached);
- it is an assistant message with tool calls → run the calls that have no result yet
  (reconciling any caught ``running`` by a crash), each journaled before it acts;
- it is an assistant message without tool calls → the turn is done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentcli.agent.events import Event, EventSink
from agentcli.agent.failpoints import failpoint
from agentcli.agent.model.client import Attempt, ModelClient
from agentcli.agent.model.reply import reply_from_response
from agentcli.agent.runner import ToolRunner
from agentcli.errors import ModelEndpointError
from agentcli.session.records import AGENT, Message, Prompt

if TYPE_CHECKING:
    from agentcli.agent.history.tracker import Tracker
    from agentcli.session.session import Session

CHARS_PER_TOKEN = 4  # a rough, conservative estimate for cutting the transcript to fit


@dataclass
class TurnResult:
    """How a run of the loop ended, for the interface to report and map to an exit code."""

    status: str  # done, failed, interrupted
    answer: str = ""
    error: str | None = None
    exit_code: int = 0
    prompt_ids: list[int] = field(default_factory=list)
    resumable: bool = False  # the turn stays open: ``agentcli resume`` takes it up again


class Orchestrator:
    """Drives the orchestrator agent of one session through its pending prompts.

    Example:
        >>> agent = Orchestrator(session, client, runner, tracker, emit, max_turns=100,
        ...                      context_window=128_000)
        >>> result = agent.run()   # finishes an interrupted turn, then queued prompts
    """

    def __init__(
        self,
        session: Session,
        client: ModelClient,
        runner: ToolRunner,
        tracker: Tracker,
        emit: EventSink,
        *,
        max_turns: int,
        context_window: int,
    ):
        self.session = session
        self.client = client
        self.runner = runner
        self.tracker = tracker
        self.emit = emit
        self.max_turns = max_turns
        self.context_chars = context_window * CHARS_PER_TOKEN
        self._current: Prompt | None = None
        self.interrupt_status = "interrupted"  # the REPL uses "cancelled": not resumed later

    def run(self) -> TurnResult:
        """Work through every pending prompt, oldest first; stop at the first that fails.

        ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM turned into it by the interface)
        propagates after the turn is recorded as ``interrupted``.
        """
        self.session.model_calls.close_pending("agentcli stopped before the answer arrived")
        result, ran = TurnResult("done"), []
        while (prompt := self.session.prompts.next_pending()) is not None:
            ran.append(prompt.id)
            result = self._guarded_turn(prompt)
            if result.status != "done":
                break
        result.prompt_ids = ran
        if result.status == "done":
            self.session.update_meta(status="idle")
        else:
            self.session.update_meta(status="interrupted" if result.resumable else result.status)
        return result

    def cancel_current(self, status: str = "interrupted") -> None:
        """Record the running turn as stopped (``interrupted`` resumes, ``cancelled`` does not)."""
        if self._current is not None:
            self.session.model_calls.close_pending("stopped by the user")
            self.session.prompts.finish(self._current.id, status, "stopped before it finished")
            self.session.update_meta(status="interrupted")
            self.emit(Event("turn.finished", {"prompt": self._current.id, "status": status}))
            self._current = None

    # -- one turn ---------------------------------------------------------------------
    def _guarded_turn(self, prompt: Prompt) -> TurnResult:
        self._current = prompt
        try:
            outcome = self._turn(prompt)
        except KeyboardInterrupt:
            self.cancel_current(self.interrupt_status)
            raise
        except ModelEndpointError as err:
            outcome = TurnResult("failed", exit_code=err.exit_code, resumable=True,
                                 error=f"{err} (the turn is saved: agentcli resume {self.session.id} "
                                 "takes it up again)")
        status = outcome.status
        # A turn cut short by the endpoint or the turn limit is recorded as interrupted,
        # so resume takes it up again; a model that gave up is failed for good.
        self.session.prompts.finish(prompt.id, "interrupted" if outcome.resumable else status,
                                    outcome.error)
        if outcome.error:
            self.emit(Event("error", {"message": outcome.error, "prompt": prompt.id}))
        self.emit(Event("turn.finished", {"prompt": prompt.id, "status": status}))
        self._current = None
        return outcome

    def _turn(self, prompt: Prompt) -> TurnResult:
        self._begin(prompt)
        # --max-turns is a budget of this run, not state of the session: a resumed turn
        # gets a fresh one.
        budget_used_before = self.session.transcript.count_replies(prompt.id)
        while True:
            last = self.session.transcript.last(AGENT)
            if last is not None and last.role == "assistant" and last.tool_calls:
                self.runner.run_calls(last, prompt.id)
                continue
            if last is not None and last.role == "assistant":
                if not last.content.strip():
                    return TurnResult("failed", error="the model gave up: it answered with nothing",
                                      exit_code=1)
                return TurnResult("done", answer=last.content)
            if self.session.transcript.count_replies(prompt.id) - budget_used_before >= self.max_turns:
                return TurnResult(
                    "failed",
                    error=f"turn limit reached: {self.max_turns} model calls for this prompt "
                    f"(go on with: agentcli resume {self.session.id} --max-turns N)",
                    exit_code=1,
                    resumable=True,
                )
            self._ask_model(prompt)

    def _begin(self, prompt: Prompt) -> None:
        session = self.session
        resumed = prompt.status != "queued"
        if not resumed:
            self.runner.settle_unanswered()
            checkpoint = session.checkpoints.for_prompt(prompt.id) or self.tracker.checkpoint(prompt.id)
            self.emit(Event("checkpoint.created", {"checkpoint": checkpoint.id, "prompt": prompt.id}))
            with session.transaction():
                session.prompts.start(prompt.id)
                session.transcript.append("user", prompt.text, prompt_id=prompt.id)
                session.update_meta(status="running")
        else:
            with session.transaction():
                session.prompts.start(prompt.id)
                session.update_meta(status="running")
        self.emit(Event("turn.started", {"prompt": prompt.id, "text": prompt.text, "resumed": resumed}))

    # -- one model call ---------------------------------------------------------------
    def _ask_model(self, prompt: Prompt) -> Message:
        session = self.session
        context = session.transcript.context(self.context_chars)
        _check_answered(context)
        ids = [m.id for m in context]
        state: dict[str, Any] = {}

        def started(attempt: Attempt) -> None:
            state["row"] = session.model_calls.begin(
                model=attempt.model, endpoint_host=attempt.endpoint_host, request=attempt.request,
                message_ids=ids, attempt=attempt.number, prompt_id=prompt.id,
            )
            if attempt.number:
                self.emit(Event("model.retry", {"attempt": attempt.number, "prompt": prompt.id}))

        def ended(attempt: Attempt) -> None:
            usage = attempt.usage
            tokens = (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) if usage else None
            if attempt.error is not None or attempt.response is None:
                session.model_calls.finish(
                    state["row"], status="interrupted" if attempt.interrupted else "error",
                    error=attempt.error,
                    response=attempt.response,
                    http_status=attempt.http_status, latency_ms=attempt.latency_ms,
                )
                return
            # The answer and its audit row commit together: a recorded answer is never asked again.
            reply = reply_from_response(attempt.response)
            calls = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in reply.tool_calls
            ]
            with session.transaction():
                session.model_calls.finish(
                    state["row"], status="ok", response=attempt.response, http_status=attempt.http_status,
                    latency_ms=attempt.latency_ms, usage=tokens,
                )
                state["message"] = session.transcript.append(
                    "assistant", reply.content, prompt_id=prompt.id, tool_calls=calls or None,
                    model_call_id=state["row"],
                )
            failpoint("model.answered")

        self.emit(Event("model.request", {"prompt": prompt.id, "messages": len(context)}))
        reply = self.client.complete(
            [m.to_api() for m in context],
            self.runner.schemas(),
            on_attempt_start=started,
            on_attempt_end=ended,
            on_text=lambda text: self.emit(Event("assistant.delta", {"text": text})),
        )
        message: Message = state["message"]
        usage = reply.usage
        self.emit(Event("assistant.message", {
            "prompt": prompt.id,
            "content": message.content,
            "tool_calls": [
                {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
                for c in message.tool_calls or []
            ],
            "usage": None if usage is None else {
                "prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            },
        }))
        return message


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
        raise RuntimeError(f"internal error: tool calls without results: {json.dumps(sorted(pending))}")
