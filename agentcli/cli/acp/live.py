"""One session an editor drives over ACP: its engine, and the bridge between the two.

The engine runs the agent on its own threads and calls :meth:`LiveSession.sink` from
them; the sink only hands each event to the event loop, where one pump task sends them,
in order, as ``session/update`` notifications (``updates.py``), then settles what waits
on them:

- a ``session/prompt`` is a ``SubmitPrompt``; it is answered once the ``run.finished``
  that ran its prompt arrives (every update of the turn sent before), with the stop
  reason of SPEC §9: ``end_turn``, ``cancelled``, ``max_turn_requests``, ``max_tokens``
  (the run's budget), ``refusal`` (the model's content filter); a run that failed for a
  reason no stop reason names (the endpoint, the session file) is a JSON-RPC error whose
  message says why — the turn is saved, the next prompt (or a load) continues it;
- an ``approval.requested`` event becomes a ``session/request_permission`` request
  (``permissions.py``), its answer an ``AnswerApproval``; a question the engine withdraws
  (the turn was cancelled) is dropped;
- a slash command's operation (``Rollback``, ``Compact``...) waits for the event that
  ends it.

Nothing here touches the agent's objects: operations in, events out.

Example:
    >>> live = LiveSession(client, loop)
    >>> live.attach(await asyncio.to_thread(open_new, options, cwd, [], live.sink))
    >>> response = await live.prompt("fix the failing test")
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any

from acp import RequestError
from acp.schema import AvailableCommandsUpdate, PromptResponse

from agentcli.agent.engine.operations import Interrupt, Operation, SetApproval, SubmitPrompt
from agentcli.agent.events import Event
from agentcli.cli.acp.commands import available
from agentcli.cli.acp.opening import SOURCE
from agentcli.cli.acp.permissions import answer, options, question_call
from agentcli.cli.acp.updates import UpdateMapper
from agentcli.session.records import ORCHESTRATOR

if TYPE_CHECKING:
    from pathlib import Path

    from agentcli.agent.engine.engine import Engine
    from agentcli.agent.engine.inspect import SessionFacts
    from agentcli.cli.acp.opening import Opened

log = logging.getLogger("agentcli.acp")
FAILED = -32603  # JSON-RPC "internal error": a run that stopped for what no stop reason names


def stop_reason(run: dict[str, Any]) -> str | RequestError:
    """The answer of a prompt its run ended: a stop reason, or the error that stopped it."""
    status, reason = run.get("status"), run.get("reason")
    if status == "done":
        return "end_turn"
    if status == "interrupted":
        return "cancelled"
    if reason == "max_turns":
        return "max_turn_requests"
    if reason == "budget":
        return "max_tokens"
    data = {"reason": reason, "exit_code": run.get("exit_code"), "resumable": run.get("resumable")}
    return RequestError(FAILED, str(run.get("error") or "the turn failed"), data)


class LiveSession:
    """One session's engine and the requests waiting on it (see the module docstring)."""

    def __init__(self, client: Any, loop: asyncio.AbstractEventLoop):
        self.client = client  # the connection to the editor (session_update, request_permission)
        self.loop = loop
        self.id = ""
        self.opened: Opened | None = None
        self._mapper: UpdateMapper | None = None
        self._inbox: asyncio.Queue[Event | None] = asyncio.Queue()
        self._ready = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None
        self._submitting: deque[asyncio.Future[int]] = deque()  # SubmitPrompts before prompt.queued
        self._waiting: dict[int, asyncio.Future[PromptResponse]] = {}  # prompt id -> its request
        self._turns: dict[int, str] = {}  # prompt id -> its turn's end, when it failed (turn.finished)
        self._finish_reasons: dict[int, str | None] = {}  # prompt id -> its last answer's
        self._expected: list[tuple[tuple[str, ...], str, asyncio.Future[Event]]] = []
        self._asking: dict[int, asyncio.Task[None]] = {}
        self._last_queued: int | None = None
        self._gone = False  # the editor's connection closed

    # -- the engine's side (any thread) ---------------------------------------------------
    def sink(self, event: Event) -> None:
        """The engine's sink: hand ``event`` to the event loop, in order. Raises
        RuntimeError once the loop is closed (the engine then stops its run, resumable)."""
        self.loop.call_soon_threadsafe(self._inbox.put_nowait, event)

    # -- the server's side (the event loop) ------------------------------------------------
    def attach(self, opened: Opened) -> None:
        """Take the opened session; its events are sent once :meth:`start` is called."""
        self.opened = opened
        self.id = opened.session.id
        self._mapper = UpdateMapper(opened.ctx.workspace_root)
        self._pump_task = self.loop.create_task(self._pump(), name=f"agentcli-acp-{self.id}")

    def start(self) -> None:
        """Begin sending updates (the editor knows the session id by now)."""
        self._ready.set()

    @property
    def engine(self) -> Engine:
        """The session's engine."""
        assert self.opened is not None
        return self.opened.engine

    @property
    def facts(self) -> SessionFacts:
        """Read-only views of the session (block: read them off the event loop)."""
        return self.engine.facts

    @property
    def root(self) -> Path:
        """The session's workspace root."""
        assert self.opened is not None
        return self.opened.ctx.workspace_root

    @property
    def mapper(self) -> UpdateMapper:
        """The session's event mapping (a replay marks the calls it showed there)."""
        assert self._mapper is not None
        return self._mapper

    async def send(self, update: Any) -> None:
        """One ``session/update``; a closed connection loses it (said once, in the log)."""
        if self._gone:
            return
        try:
            await self.client.session_update(session_id=self.id, update=update)
        except Exception as err:  # noqa: BLE001 - the editor went away: the engine goes on, resumable
            self._gone = True
            log.info("session %s: the editor's connection closed (%s)", self.id, err)

    async def prompt(self, text: str) -> PromptResponse:
        """Run ``text`` as a prompt (queued if a turn runs: that turn takes it next); the answer."""
        self.start()
        queued: asyncio.Future[int] = self.loop.create_future()
        self._submitting.append(queued)
        self.engine.submit(SubmitPrompt(text, source=SOURCE))
        prompt_id = await queued
        return await self._waiting[prompt_id]

    def cancel(self) -> None:
        """``session/cancel``: stop the turn as the terminal's Ctrl-C does (recorded
        ``cancelled``; the next prompt continues from there)."""
        self.engine.submit(Interrupt("cancelled in the editor", resumable=False))

    async def set_mode(self, mode: str) -> None:
        """Switch the approval mode; RequestError when the engine refuses it."""
        event = await self.operate(SetApproval(mode), ("approval.changed",))
        if event.type == "operation.failed":
            raise RequestError.invalid_params({"message": event.data.get("message")})

    async def operate(self, op: Operation, done: tuple[str, ...]) -> Event:
        """Submit ``op``; the event that ends it (one of ``done``, or ``operation.failed``)."""
        ended: asyncio.Future[Event] = self.loop.create_future()
        self._expected.append((done, type(op).__name__, ended))
        self.engine.submit(op)
        return await ended

    async def close(self) -> None:
        """Close the engine (a running turn is left interrupted, resumable), then the file
        (removed when this process made it and it never got a prompt); settle what waits."""
        if self.opened is not None:
            await asyncio.to_thread(self._close, self.opened)
        self.start()
        self.loop.call_soon(self._inbox.put_nowait, None)  # after the events the close emitted
        if self._pump_task is not None:
            try:
                await asyncio.wait_for(self._pump_task, timeout=5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._pump_task.cancel()
        for task in self._asking.values():
            task.cancel()
        for waiter in [*self._submitting, *self._waiting.values()]:
            if not waiter.done():
                waiter.set_exception(RequestError(FAILED, "agentcli acp is shutting down; the session is "
                                                          "saved: load it again to go on"))

    @staticmethod
    def _close(opened: Opened) -> None:
        try:
            opened.engine.close()
        finally:
            empty = opened.created and opened.engine.facts.never_answered(None)
            opened.session.close()
            if empty:  # an editor's thread that was opened and left: nothing worth keeping
                opened.ctx.sessions.remove(opened.session.path)

    # -- the pump --------------------------------------------------------------------------
    async def _pump(self) -> None:
        await self._ready.wait()
        await self.send(AvailableCommandsUpdate(session_update="available_commands_update",
                                                available_commands=available()))
        while (event := await self._inbox.get()) is not None:
            for update in self.mapper.updates(event):
                await self.send(update)
            try:
                self._settle(event)
            except Exception:  # noqa: BLE001 - one bad event must not stop the session's updates
                log.exception("session %s: handling %s failed", self.id, event.type)

    def _settle(self, event: Event) -> None:
        kind, data = event.type, event.data
        ours = data.get("agent", ORCHESTRATOR) == ORCHESTRATOR
        if kind == "prompt.queued":
            self._waiting[data["prompt"]] = self.loop.create_future()
            self._last_queued = data["prompt"]
            if self._submitting:
                self._submitting.popleft().set_result(data["prompt"])
        elif kind == "operation.failed" and data.get("operation") == "SubmitPrompt":
            error = RequestError(FAILED, str(data.get("message", "the prompt was refused")))
            if self._submitting:
                self._submitting.popleft().set_exception(error)
            elif (waiter := self._waiting.pop(self._last_queued or 0, None)) is not None:
                waiter.set_exception(error)  # stored, then its turn could not start
        elif kind == "assistant.message" and ours:
            self._finish_reasons[data.get("prompt")] = data.get("finish_reason")
        elif kind == "turn.finished" and ours:
            self._turn_finished(data["prompt"], data["status"])
        elif kind == "run.finished":
            self._run_finished(data)
        elif kind == "approval.requested":
            self._asking[data["id"]] = self.loop.create_task(self._permission(data))
        elif kind == "approval.resolved":
            task = self._asking.pop(data["id"], None)
            if task is not None and data.get("choice") == "withdrawn":
                task.cancel()
        elif kind in ("warning", "error"):
            log.warning("session %s: %s", self.id, data.get("message"))
        self._settle_expected(event)

    def _turn_finished(self, prompt_id: int, status: str) -> None:
        """A prompt's turn ended: answer its request now, unless it failed (its run's end
        says why) — a prompt queued behind it must not hold this answer back."""
        if status == "done":
            refused = self._finish_reasons.get(prompt_id) == "content_filter"
            self._answer(prompt_id, "refusal" if refused else "end_turn")
        elif status in ("interrupted", "cancelled"):
            self._answer(prompt_id, "cancelled")
        else:
            self._turns[prompt_id] = status

    def _run_finished(self, run: dict[str, Any]) -> None:
        """The run ended: its failed prompt, and the queued ones it never reached when it
        stopped early, get its outcome; those still queued after a good run wait for the next."""
        ran = run.get("prompts") or []
        for prompt_id in list(self._waiting):
            if prompt_id in ran or prompt_id in self._turns or run.get("status") != "done":
                self._answer(prompt_id, stop_reason(run))
        self._turns.clear()

    def _answer(self, prompt_id: int, outcome: str | RequestError) -> None:
        waiter = self._waiting.pop(prompt_id, None)
        self._finish_reasons.pop(prompt_id, None)
        if waiter is None or waiter.done():
            return
        if isinstance(outcome, RequestError):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(PromptResponse(stop_reason=outcome))

    def _settle_expected(self, event: Event) -> None:
        for index, (done, operation, ended) in enumerate(self._expected):
            failed = event.type == "operation.failed" and event.data.get("operation") == operation
            if event.type in done or failed:
                del self._expected[index]
                if not ended.done():
                    ended.set_result(event)
                return

    async def _permission(self, question: dict[str, Any]) -> None:
        """Ask the editor; its answer (a failure: no) goes to the engine."""
        try:
            response = await self.client.request_permission(
                session_id=self.id, tool_call=question_call(question, self.root), options=options(question))
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - the editor could not answer: that is a no
            log.warning("session %s: the permission request failed: %s", self.id, err)
            response = None
        self.engine.submit(answer(question, response))
