"""The engine: one session's agent, driven by operations, telling everything as events.

A client — the terminal, a scripted ``-p`` run, the editor protocol — holds an
:class:`Engine` and does two things with it: it :meth:`~Engine.submit`\\ s operations
(:mod:`.operations`) and it draws the events that come to its sink. It never touches the
agent's objects. Inside, one engine thread applies the operations in order; long work (a
turn, a compaction, a rollback) runs on a task thread, one task at a time, so an
``Interrupt`` or a ``Shutdown`` is taken at once whatever runs. ``submit`` only puts the
operation on a queue that is safe to use from a signal handler: signals become
operations.

Errors split as the model can act on them or not. A tool's failure is the model's
tool result; an interface failure (the client's sink raised: a closed stdout) stops the
run resumably; a storage failure or a bug stops the run, is kept as :attr:`Engine.fatal`
for the client to report in one line, and leaves the turn resumable.

:meth:`Engine.close` shuts down and joins every thread before it returns, so nothing
writes to the session after its owner closes it.

Example:
    >>> engine = Engine(session, settings, place, sink=print_event, interactive=False)
    >>> engine.start(resumed=False)
    >>> engine.submit(RunPending())
    >>> result = engine.wait()            # the run's TurnResult
    >>> engine.close()
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.engine import operations as ops
from agentcli.agent.engine.approvals import Approvals
from agentcli.agent.engine.compose import AgentParts, compose
from agentcli.agent.engine.launch import remembered_settings, run_secrets
from agentcli.agent.events import Event, EventSink
from agentcli.agent.loop import TurnResult
from agentcli.errors import AgentcliError, UsageError
from agentcli.session.records import ORCHESTRATOR

if TYPE_CHECKING:
    from agentcli.agent.config import Settings
    from agentcli.agent.engine.inspect import SessionFacts
    from agentcli.agent.engine.launch import Place
    from agentcli.agent.mcp.config import ServerConfig
    from agentcli.agent.tools.registry import Tool
    from agentcli.session.session import Session

APPROVAL_MODES = ("ask", "auto-edit", "full-auto", "read-only")


class InterfaceGoneError(Exception):
    """The client's sink failed (its output closed): the run stops, resumable."""


@dataclass(frozen=True)
class _Settled:
    """The engine's own operation: a task ended (queued by the task's thread)."""

    kind: str


@dataclass
class _Task:
    kind: str  # turn, compact, rollback
    token: CancelToken = field(default_factory=CancelToken)
    thread: threading.Thread | None = None


class Engine:
    """One session's agent behind operations and events (see the module docstring).

    ``interactive``: somebody can answer approval questions (``approval.requested``
    events, answered by :class:`~.operations.AnswerApproval`); else what would need
    asking is denied. ``live_output``: a running command's output comes as
    ``tool.output`` events. ``tools``: tools offered besides the built-in ones and the
    MCP servers'. ``warn``: told what a person should know while the agent starts (an MCP
    server that did not start); by default a ``warning`` event. ``mcp_servers``: MCP servers
    the client names (an editor's), started besides those the configuration declares. The
    session stays the caller's: close it after :meth:`close`.
    """

    def __init__(self, session: Session, settings: Settings, place: Place, *, sink: EventSink,
                 interactive: bool, live_output: bool = False, tools: Iterable[Tool] = (),
                 warn: Callable[[str], None] | None = None, mcp_servers: Sequence[ServerConfig] = ()):
        self._session = session
        self._settings = settings
        self._place = place
        self._sink = sink
        self._deliver_lock = threading.Lock()
        self.interface_error: BaseException | None = None
        session.redact_secrets(run_secrets(settings))
        self._approvals = Approvals(self._emit)
        self._mcp_servers = list(mcp_servers)
        self._parts: AgentParts = compose(session, settings, place, self._emit,
                                          asker=self._approvals.ask if interactive else None,
                                          live_output=live_output, tools=tools, warn=warn,
                                          mcp_servers=self._mcp_servers)
        self._ops: queue.SimpleQueue[ops.Operation] = queue.SimpleQueue()
        self._lock = threading.RLock()  # re-entrant: a signal handler may submit while we hold it
        self._changed = threading.Condition(self._lock)
        self._outstanding = 0  # operations submitted and not yet applied
        self._task: _Task | None = None
        self._closing = False
        self._closed = False
        self._stopped = False  # the engine's thread has returned
        self.result: TurnResult | None = None  # the last run's
        self.fatal: BaseException | None = None  # what stopped a run that no model could act on
        self._thread = threading.Thread(target=self._serve, name="agentcli-engine", daemon=True)
        self._thread.start()

    # -- the client's side --------------------------------------------------------------
    def start(self, *, resumed: bool) -> None:
        """Say which session this is (``session.started``): the first event of a run."""
        from agentcli.agent.sandbox.startup import sandbox_fields

        meta = self._session.meta()
        settings = self._settings
        self._emit(Event("session.started", {
            "session": self._session.id, "path": str(self._session.path), "model": settings.model,
            "endpoint": settings.endpoint_host, "workspace": meta.workspace_root,
            "approval": settings.approval, "resumed": resumed, **sandbox_fields(settings),
        }))

    def submit(self, op: ops.Operation) -> None:
        """Queue ``op``; it is applied in order on the engine's thread. Never blocks, and
        may be called from any thread or from a signal handler."""
        with self._lock:
            if self._closed:
                return
            self._outstanding += 1
        self._ops.put(op)

    def wait(self, timeout: float | None = None) -> TurnResult | None:
        """Wait until every submitted operation is applied and no task runs (or ``timeout``
        seconds); the last run's result. Signals are handled meanwhile."""
        with self._changed:
            self._changed.wait_for(lambda: self._idle, timeout)
            return self.result

    @property
    def busy(self) -> bool:
        """Whether an operation waits or a task runs."""
        with self._lock:
            return not self._idle

    @property
    def task(self) -> str | None:
        """The kind of the task running now (``turn``, ``compact``, ``rollback``), or None."""
        with self._lock:
            return self._task.kind if self._task else None

    @property
    def closing(self) -> bool:
        """True once a :class:`~.operations.Shutdown` was applied."""
        return self._closing

    @property
    def settings(self) -> Settings:
        """The run's settings as they are now (``/model`` and ``/approval`` change them)."""
        return self._settings

    @property
    def facts(self) -> SessionFacts:
        """Read-only views of the session for a client to show (plan, diff, status...)."""
        from agentcli.agent.engine.inspect import SessionFacts

        return SessionFacts(self._session, self._settings, self._parts.pricing, self._mcp_servers,
                            sessions=self._place.sessions)

    def redact(self, text: str) -> str:
        """``text`` with the run's secrets replaced, as the session stores it (for what a
        client keeps of its own, such as an input history)."""
        return self._session.redactor.text(text)

    def close(self) -> None:
        """Shut down (a running task is interrupted, resumable), join every thread, release
        the model's connections and what the tools hold. Idempotent."""
        if self._closed:
            return
        self.submit(ops.Shutdown("closed"))
        self._thread.join()
        with self._lock:
            self._closed = True
        self._parts.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- events ---------------------------------------------------------------------------
    def _emit(self, event: Event) -> None:
        """Hand ``event`` to the client, secrets redacted, one at a time. A client whose sink
        fails stops the run (resumable) and gets no more events."""
        redactor = self._session.redactor
        if redactor.secrets:
            event = Event(event.type, redactor.data(event.data))
        with self._deliver_lock:
            if self.interface_error is not None:
                return
            try:
                self._sink(event)
            except Exception as err:  # noqa: BLE001 - the interface's failure, not the agent's
                self.interface_error = err
        if self.interface_error is not None:
            with self._lock:
                if self._task is not None:
                    self._task.token.cancel(f"the output closed ({self.interface_error})")

    # -- the engine's thread ------------------------------------------------------------
    @property
    def _idle(self) -> bool:
        return self._stopped or (self._outstanding == 0 and self._task is None)

    def _serve(self) -> None:
        while True:
            op = self._ops.get()
            try:
                stop = self._apply(op)
            except AgentcliError as err:
                stop = False
                self._emit(Event("operation.failed", {"operation": type(op).__name__, "message": str(err),
                                                      "exit_code": err.exit_code,
                                                      "paths": list(getattr(err, "paths", []))}))
            except Exception as err:  # noqa: BLE001 - a bug in one operation must not end the engine
                stop = False
                self.fatal = err
                self._emit(Event("operation.failed", {"operation": type(op).__name__, "exit_code": 1,
                                                      "message": f"{type(err).__name__}: {err}"}))
            with self._changed:
                self._outstanding -= 1
                self._stopped = stop
                self._changed.notify_all()
            if stop:
                return

    def _apply(self, op: ops.Operation) -> bool:
        """Apply one operation; True when the engine is to stop serving."""
        if isinstance(op, ops.Shutdown):
            self._shutdown(op.reason)
            return True
        if self._closing:
            return False
        handler: Callable[[Any], None] = getattr(self, f"_on_{type(op).__name__}")  # one per operation
        handler(op)
        return False

    def _shutdown(self, reason: str) -> None:
        with self._lock:
            self._closing = True
            task = self._task
        if task is not None:
            task.token.cancel(reason)
            if task.thread is not None:
                task.thread.join()

    def _on_SubmitPrompt(self, op: ops.SubmitPrompt) -> None:  # noqa: N802 - named after the op
        prompt = self._session.add_prompt(op.text, source=op.source)
        self._emit(Event("prompt.queued", {"prompt": prompt.id, "text": op.text, "source": op.source,
                                           "busy": self.task is not None}))
        if op.run:
            self._start_turn()

    def _on_RunPending(self, op: ops.RunPending) -> None:  # noqa: N802
        self._parts.orchestrator.held.update(op.hold)
        self._start_turn()

    def _on_Interrupt(self, op: ops.Interrupt) -> None:  # noqa: N802
        with self._lock:
            if self._task is not None:
                self._task.token.cancel(op.reason, resumable=op.resumable)

    def _on_AnswerApproval(self, op: ops.AnswerApproval) -> None:  # noqa: N802
        self._approvals.answer(op)

    def _on_SetApproval(self, op: ops.SetApproval) -> None:  # noqa: N802
        if op.mode not in APPROVAL_MODES:
            raise UsageError(f"approval mode {op.mode!r} is not one of: {', '.join(APPROVAL_MODES)}")
        self._parts.orchestrator.runner.approver.mode = op.mode
        self._settings.approval = op.mode
        self._remember(approval=op.mode)
        self._emit(Event("approval.changed", {"mode": op.mode}))

    def _on_SetModel(self, op: ops.SetModel) -> None:  # noqa: N802
        name = op.name.strip()
        if not name:
            raise UsageError("give the name of a model, e.g. /model gpt-4.1")
        parts = self._parts
        for budgeted in parts.budgets:
            budgeted.check_priced(name)
        parts.model.use(parts.client.for_model(name))
        if parts.scout_model is not None and not self._settings.scout_model:
            parts.scout_model.use(parts.client.for_model(name))
        self._settings.model = name
        self._remember(model=name)
        self._session.update_meta(model=name)
        self._emit(Event("model.changed", {"model": name}))

    def _on_Compact(self, op: ops.Compact) -> None:  # noqa: N802
        self._start("compact", lambda token: self._compact(token, op.keep))

    def _on_Rollback(self, op: ops.Rollback) -> None:  # noqa: N802
        self._start("rollback", lambda token: self._rollback(op))

    def _remember(self, **changes: Any) -> None:
        remembered = dict(self._session.meta().settings or remembered_settings(self._settings))
        remembered.update(changes)
        self._session.update_meta(settings=remembered)

    # -- tasks ------------------------------------------------------------------------------
    def _start_turn(self) -> None:
        with self._lock:
            if self._task is not None and self._task.kind == "turn":
                return  # the running turn takes new prompts at its next boundary
        self._start("turn", self._turns)

    def _start(self, kind: str, work: Callable[[CancelToken], None]) -> None:
        if self.interface_error is not None:
            raise UsageError(f"the output closed ({self.interface_error}): nothing more can be run")
        with self._lock:
            if self._task is not None:
                raise UsageError(f"{'a turn' if self._task.kind == 'turn' else self._task.kind} is running: "
                                 "wait until it ends (or interrupt it)")
            task = self._task = _Task(kind)
            task.thread = threading.Thread(target=self._run_task, args=(task, work),
                                           name=f"agentcli-{kind}", daemon=True)
            task.thread.start()

    def _run_task(self, task: _Task, work: Callable[[CancelToken], None]) -> None:
        try:
            work(task.token)
        finally:
            with self._changed:
                self._task = None
                self._outstanding += 1  # the settling below: the engine stays busy until it is done
            self._ops.put(_Settled(task.kind))
            task.token.close()

    def _on__Settled(self, op: _Settled) -> None:  # noqa: N802
        """A task ended. After a turn that went well, prompts that were queued while it ran
        (and that it did not reach) start the next one at once."""
        result, held = self.result, self._parts.orchestrator.held
        if (op.kind == "turn" and result is not None and result.status == "done"
                and self.interface_error is None and self._session.prompts.next_pending(held) is not None):
            self._start_turn()

    def _turns(self, token: CancelToken) -> None:
        """Run the pending prompts, oldest first, until one does not finish."""
        try:
            result = self._parts.orchestrator.run(token)
        except Exception as err:  # noqa: BLE001 - storage failure or a bug: stop, resumable
            result = self._fatal(err)
        if self.interface_error is not None and result.status == "interrupted":
            result.error = f"the output closed ({self.interface_error}); the session is saved"
            result.reason = "interface"
        self.result = result
        self._emit(Event("run.finished", {
            "status": result.status, "reason": result.reason, "error": result.error,
            "exit_code": result.exit_code, "resumable": result.resumable, "prompts": result.prompt_ids,
            "answer": result.answer,
        }))

    def _fatal(self, err: BaseException) -> TurnResult:
        """A run stopped by what no model can act on: remember it, say it, leave it resumable."""
        self.fatal = err
        message = str(err) if isinstance(err, AgentcliError) else f"{type(err).__name__}: {err}"
        try:
            self._session.update_meta(status="interrupted")
        except Exception:  # noqa: BLE001, S110 - the file itself may be what failed
            pass
        self._emit(Event("error", {"agent": ORCHESTRATOR, "message": message, "fatal": True}))
        code = err.exit_code if isinstance(err, AgentcliError) else 1
        return TurnResult("failed", error=message, exit_code=code, resumable=True, reason="fatal")

    def _compact(self, token: CancelToken, keep: float | None) -> None:
        from agentcli.agent.cancel import Cancelled
        from agentcli.agent.compaction import compact_now

        loop = self._parts.orchestrator.loop
        self._session.model_calls.close_pending(ORCHESTRATOR, "agentcli stopped before the answer arrived")
        data: dict[str, Any]
        try:
            record = compact_now(loop.compactor, loop.runner.schemas(), token, 0.0 if keep is None else keep)
        except Cancelled as stop:
            data = {"status": "interrupted", "error": str(stop)}
        except AgentcliError as err:
            data = {"status": "failed", "error": str(err)}
        except Exception as err:  # noqa: BLE001 - as a turn's: stop, say it
            self.fatal = err
            data = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
        else:
            if record is None:
                data = {"status": "nothing", "error": None}
            else:
                data = {"status": record.status, "error": record.error, "compaction": record.id,
                        "first_message": record.first_message_id, "last_message": record.last_message_id,
                        "tokens_before": record.tokens_before, "tokens_after": record.tokens_after}
        self._emit(Event("compact.finished", data))

    def _rollback(self, op: ops.Rollback) -> None:
        from agentcli.agent.history.rollback import (
            partial_message,
            rollback,
            rollback_notes,
            undo_last_rollback,
        )

        session, root = self._session, self._place.root
        limit = self._settings.max_file_bytes
        try:
            if op.undo:
                result = undo_last_rollback(session, root, force=op.force, max_file_bytes=limit)
            else:
                result = rollback(session, root, to=op.to, files=op.files, conversation=op.conversation,
                                  force=op.force, max_file_bytes=limit)
        except AgentcliError as err:
            self._emit(Event("operation.failed", {"operation": "Rollback", "message": str(err),
                                                  "exit_code": err.exit_code,
                                                  "paths": list(getattr(err, "paths", []))}))
            return
        self._emit(Event("rollback.finished", {
            "rollback": result.rollback_id, "checkpoint": result.checkpoint_id, "mode": result.mode,
            "undo_of": result.undo_of, "restored": result.restored, "removed": result.removed,
            "kept": result.kept, "not_restorable": result.not_restorable, "forced": result.forced,
            "blocked": result.blocked, "failed": result.failed, "not_restored": result.not_restored,
            "messages": result.messages, "prompts": result.prompts,
            "notes": rollback_notes(result), "partial": partial_message(result, session.id),
        }))
