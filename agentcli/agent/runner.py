"""Tool calls: prepare, approve, journal, act, record — and reconcile.

A call is journaled ``running`` (with the file edits it intends, contents in blobs)
before it acts, and closed with its result message in one transaction after. A call
found ``running`` when a turn resumes was cut short by a crash; what happens to it is the
resume policy journaled with it (:data:`~.tools.registry.RESUME_POLICIES`): file tools are
checked against the recorded hashes and completed; a shell command, or an MCP call that is
not idempotent, is never sent again; reads, plans and idempotent calls are redone.

The runner knows tools only through the registry's :class:`PreparedCall`: its ``kind``
(for approval and the change tracker: shell commands and ``external`` calls are scanned
around), its ``edits``, its resume policy, how to ``execute`` it, and an optional ``record``
step that writes the call's own rows (the plan, for ``update_plan``) in the transaction that
closes the call. A new tool never edits this file.

Calls run one at a time, in the order the model made them, except calls that only read
(kind ``read``, ``mutates`` False: the file readers, MCP tools annotated read-only) standing
next to each other: those run at once (up to :data:`PARALLEL_READS`), each still journaled
before it acts and closed in order; a call that may change something waits for them.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from agentcli.agent.approval import ApprovalRequest, Approver, Decision
from agentcli.agent.cancel import NEVER, Cancelled, CancelToken
from agentcli.agent.errors import StopsRun, ToolError
from agentcli.agent.events import Event, EventSink
from agentcli.agent.failpoints import failpoint
from agentcli.agent.tools.registry import PreparedCall, ToolOutput, ToolRegistry, resume_policy
from agentcli.agent.workspace.edit_text import describe_edit
from agentcli.session.records import Message, ToolCallRecord

if TYPE_CHECKING:
    from agentcli.agent.history.tracker import Tracker
    from agentcli.session.session import Session

SHELL_INTERRUPTED = (
    "error: interrupted — agentcli stopped while this command was running, so it may have "
    "partly run; its output was lost. Check the workspace before running it again."
)
PARALLEL_READS = 8  # calls that only read, of one answer, running at once
TOOL_INTERRUPTED = "error: interrupted — agentcli stopped before this call finished; run it again if needed."
CALL_INTERRUPTED = (
    "error: interrupted — agentcli stopped while this call was running, so it may have happened "
    "(in part or whole); its result was lost. Check its effect before calling it again."
)
SCANNED_KINDS = ("shell", "external")  # calls whose effects on the workspace are found by a scan
NOT_RUN = "error: not run — the turn was stopped before this call ran."
EXCERPT = 400


class ToolRunner:
    """Runs one agent's tool calls against the workspace, journaled under its name."""

    def __init__(self, session: Session, agent: str, toolbox: ToolRegistry, approver: Approver,
                 tracker: Tracker | None, emit: EventSink):
        self.session = session
        self.agent = agent
        self.toolbox = toolbox
        self.approver = approver
        self.tracker = tracker  # None for agents whose tools cannot change the workspace
        self.emit = emit

    def schemas(self) -> list[dict[str, Any]]:
        """The ``tools`` list offered to the model."""
        return self.toolbox.schemas()

    def run_calls(self, message: Message, prompt_id: int | None, cancel: CancelToken = NEVER) -> None:
        """Give every tool call of ``message`` a result, skipping those already recorded.

        Calls that only read (:meth:`_reads_at`) and stand next to each other run at once;
        a call that may change something waits for those before it, and they for it."""
        records = {r.position: r for r in self.session.tool_calls.for_message(message.id)}
        calls = message.tool_calls or []
        position = 0
        while position < len(calls):
            cancel.check()
            record = records.get(position)
            if record is not None:
                if record.status == "running":
                    self._reconcile(record, prompt_id, cancel)
                position += 1
                continue
            reads = self._reads_at(calls, position, records)
            if len(reads) > 1:
                self._run_reads(message, reads, prompt_id, cancel)
            else:
                self._run_new(message, position, calls[position], prompt_id, cancel)
            position += max(1, len(reads))

    def settle_unanswered(self) -> None:
        """Close the calls a stopped turn left without a result (before a new prompt, or
        when the person drops the turn): those of the agent's newest assistant message."""
        last = self.session.transcript.last_assistant(self.agent)
        if last is None or not last.tool_calls:
            return
        records = {r.position: r for r in self.session.tool_calls.for_message(last.id)}
        for position, call in enumerate(last.tool_calls):
            record = records.get(position)
            if record is None:
                self._close_unrun(last, position, call, "interrupted", NOT_RUN, last.prompt_id)
            elif record.status == "running":
                self._reconcile(record, last.prompt_id)

    def _event(self, kind: str, data: dict[str, Any]) -> None:
        self.emit(Event(kind, {"agent": self.agent, **data}))

    # -- a new call -------------------------------------------------------------------
    def _run_new(self, message: Message, position: int, call: dict[str, Any], prompt_id: int | None,
                 cancel: CancelToken) -> None:
        admitted = self._admit(message, position, call, prompt_id, cancel)
        if admitted is None:
            return
        prepared, decision = admitted
        with self.session.transaction():
            row = self._journal(message, position, call, prompt_id, prepared, decision)
        failpoint("tool.journaled")
        self._act(row, call["id"], prepared, prompt_id, cancel)

    def _admit(self, message: Message, position: int, call: dict[str, Any], prompt_id: int | None,
               cancel: CancelToken) -> tuple[PreparedCall, Decision] | None:
        """Prepare and approve one call (announcing it); None when it was refused or is
        malformed, its result then recorded."""
        function = call.get("function") or {}
        name, raw = function.get("name") or "", function.get("arguments") or ""
        started = {"id": call["id"], "name": name, "arguments": raw, **_server(self.toolbox.server_of(name))}
        try:  # prepared before it is announced: tool.started tells a shell call's sandbox
            prepared = self.toolbox.prepare(name, raw)
        except ToolError as err:
            self._event("tool.started", started)
            self._close_unrun(message, position, call, "failed", f"error: {err}", prompt_id)
            return None
        confinement = prepared.confinement
        self._event("tool.started", {**started, **({"sandbox": confinement.mode} if confinement else {})})
        if prepared.edits:
            self._event("tool.prepared", {"id": call["id"], "name": name, "kind": prepared.kind,
                                          "summary": prepared.summary,
                                          "edits": [describe_edit(edit) for edit in prepared.edits]})
        request = ApprovalRequest(self.agent, name, prepared.kind, prepared.summary,
                                  str(prepared.args.get("command", "")), tuple(prepared.edits),
                                  call_id=call["id"], confinement=confinement,
                                  server=prepared.server or "", details=prepared.details)
        decision = self.approver.decide(request, self.session.grants.all(), cancel)
        if not decision.allowed:
            self._close_unrun(message, position, call, "denied", f"denied: {decision.reason}", prompt_id,
                              prepared)
            return None
        return prepared, decision

    def _journal(self, message: Message, position: int, call: dict[str, Any], prompt_id: int | None,
                 prepared: PreparedCall, decision: Decision) -> int:
        """Record the call ``running`` (with its grant and the edits it intends), inside the
        caller's transaction; its row id."""
        function = call.get("function") or {}
        row = self.session.tool_calls.begin(
            agent=self.agent, message_id=message.id, position=position, call_id=call["id"],
            name=function.get("name") or "", arguments=function.get("arguments") or "", prompt_id=prompt_id,
            kind=prepared.kind, summary=prepared.summary, approval=decision.how,
            sandbox=prepared.confinement.mode if prepared.confinement else None,
            server=prepared.server, resume=prepared.resume,
        )
        if decision.grant is not None:
            self.session.grants.add(decision.grant.kind, decision.grant.pattern, row)
        if prepared.kind == "edit" and self.tracker is not None:
            self.tracker.log_edits(row, prompt_id, prepared.edits)
        return row

    # -- calls that only read, at once ---------------------------------------------------
    def _reads_at(self, calls: list[dict[str, Any]], start: int,
                  records: dict[int, ToolCallRecord]) -> list[int]:
        """The positions, from ``start`` on, of calls not yet recorded whose tools only read
        (kind ``read``, changing nothing): they may run at the same time."""
        reads = []
        for position in range(start, len(calls)):
            name = (calls[position].get("function") or {}).get("name") or ""
            tool = self.toolbox.find(name)
            if position in records or tool is None or tool.kind != "read" or tool.mutates:
                break
            reads.append(position)
        return reads

    def _run_reads(self, message: Message, positions: list[int], prompt_id: int | None,
                   cancel: CancelToken) -> None:
        """Run reads together: each admitted and journaled (one transaction), then all at
        once on threads, then each closed in the order the model made them."""
        calls = message.tool_calls or []
        admitted = [(position, got) for position in positions
                    if (got := self._admit(message, position, calls[position], prompt_id, cancel))]
        if not admitted:
            return
        with self.session.transaction():
            rows = [self._journal(message, position, calls[position], prompt_id, *got)
                    for position, got in admitted]
        failpoint("tool.journaled")
        for (_, (prepared, _)), row in zip(admitted, rows):
            prepared.row = row
        workers = min(len(admitted), PARALLEL_READS)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agentcli-read") as pool:
            futures = [pool.submit(_timed, prepared, cancel) for _, (prepared, _) in admitted]
            wait(futures)
        stopped: Cancelled | None = None
        for (position, (prepared, _)), row, future in zip(admitted, rows, futures):
            error = future.exception()
            if isinstance(error, Cancelled):
                stopped = stopped or error
                self._finish(row, calls[position]["id"], prepared, "interrupted",
                             ToolOutput(TOOL_INTERRUPTED, is_error=True), prompt_id)
                continue
            if error is not None:
                raise error  # the session file failed (stops_run): the others are redone on resume
            output, duration = future.result()
            if output.is_error and not output.text.startswith("error"):
                output = ToolOutput(f"error: {output.text}", True, output.data)
            failpoint("tool.acted")
            self._finish(row, calls[position]["id"], prepared, "failed" if output.is_error else "done",
                         output, prompt_id, duration=duration)
        if stopped is not None:
            raise stopped

    def _act(self, row: int, call_id: str, prepared: PreparedCall, prompt_id: int | None,
             cancel: CancelToken) -> None:
        began = time.monotonic()
        shell = prepared.kind in SCANNED_KINDS and self.tracker is not None
        if shell:
            self.tracker.before_shell()
        prepared.row = row
        try:
            output = _execute(prepared, cancel)
        except StopsRun:
            raise  # left running (a scout fan-out whose budget is spent): resume finishes it
        except Cancelled:
            if prepared.kind == "agent" and cancel.resumable:
                raise  # left running: resume continues the sub-agents from their own records
            if shell:
                self.tracker.after_shell(row, prompt_id, prepared.tool_name)
            text = _interrupted_text(prepared.kind, prepared.resume)
            self._finish(row, call_id, prepared, "interrupted", ToolOutput(text, is_error=True),
                         prompt_id, began)
            raise
        # Errors read alike for the model ("error: ..."); a timed-out command's output says so itself.
        if output.is_error and prepared.kind != "shell" and not output.text.startswith("error"):
            output = ToolOutput(f"error: {output.text}", True, output.data)
        failpoint("tool.acted")
        if shell:
            self.tracker.after_shell(row, prompt_id, prepared.tool_name)
        elif prepared.kind == "edit" and self.tracker is not None:
            self.tracker.edits_applied(row)
        status = "failed" if output.is_error else "done"
        self._finish(row, call_id, prepared, status, output, prompt_id, began)

    def _finish(self, row: int, call_id: str, prepared: PreparedCall | ToolCallRecord, status: str,
                output: ToolOutput, prompt_id: int | None, began: float | None = None,
                duration: int | None = None) -> None:
        if duration is None and began is not None:
            duration = int((time.monotonic() - began) * 1000)
        name = prepared.tool_name if isinstance(prepared, PreparedCall) else prepared.name
        server = prepared.server
        with self.session.transaction():
            self.session.tool_calls.finish(row, status, output.text, is_error=output.is_error,
                                           data=output.data or None, duration_ms=duration)
            if isinstance(prepared, PreparedCall) and prepared.record is not None and not output.is_error:
                prepared.record(self.session, row)
            self.session.transcript.append("tool", output.text, agent=self.agent, prompt_id=prompt_id,
                                           tool_call_id=call_id)
        failpoint("tool.finished")
        self._event("tool.finished", {
            "id": call_id, "name": name, **_server(server), "status": status, "is_error": output.is_error,
            "output": output.text[:EXCERPT], **output_extent(output.text), "duration_ms": duration,
            **{k: v for k, v in output.data.items() if k in ("exit_code", "timed_out", "items")},
        })

    def _close_unrun(self, message: Message, position: int, call: dict[str, Any], status: str,
                     text: str, prompt_id: int | None, prepared: PreparedCall | None = None) -> None:
        """Record a call that never acted (malformed, denied, or left behind) with its result."""
        function = call.get("function") or {}
        with self.session.transaction():
            row = self.session.tool_calls.begin(
                agent=self.agent, message_id=message.id, position=position, call_id=call["id"],
                name=function.get("name") or "", arguments=function.get("arguments") or "",
                prompt_id=prompt_id, kind=prepared.kind if prepared else None,
                summary=prepared.summary if prepared else None,
                approval="denied" if status == "denied" else None, status=status,
                sandbox=prepared.confinement.mode if prepared and prepared.confinement else None,
            )
            self.session.tool_calls.finish(row, status, text, is_error=True)
            self.session.transcript.append("tool", text, agent=self.agent, prompt_id=prompt_id,
                                           tool_call_id=call["id"])
        self._event("tool.finished", {
            "id": call["id"], "name": function.get("name") or "", "status": status, "is_error": True,
            "output": text[:EXCERPT], **output_extent(text),
        })

    # -- a call caught running by a crash ---------------------------------------------
    def _reconcile(self, record: ToolCallRecord, prompt_id: int | None, cancel: CancelToken = NEVER) -> None:
        sandbox = {"sandbox": record.sandbox} if record.sandbox else {}
        self._event("tool.started", {"id": record.call_id, "name": record.name, **_server(record.server),
                                     "arguments": record.arguments, "resumed": True, **sandbox})
        policy = resume_policy(record.kind, record.resume)
        scanned = record.kind in SCANNED_KINDS and self.tracker is not None
        if scanned:  # what the cut-short call changed on disk is logged, whatever comes next
            self.tracker.after_shell(record.id, prompt_id, record.name)
        if policy == "interrupt":
            self._finish(record.id, record.call_id, record, "interrupted",
                         ToolOutput(_interrupted_text(record.kind, policy), is_error=True), prompt_id)
            return
        if policy == "check" and self.tracker is not None:
            note = self.tracker.reconcile_edits(record.id)
            self._finish(record.id, record.call_id, record, "done",
                         ToolOutput(f"{record.summary or record.name}: {note}"), prompt_id)
            return
        # Reads and plan updates have no side effect outside their own records, and an
        # idempotent call may be sent again: redo them. An agent call (scout) picks up its
        # sub-agents where their records left them.
        try:
            prepared: PreparedCall | ToolCallRecord = self.toolbox.prepare(record.name, record.arguments)
            prepared.row = record.id
            if scanned:
                self.tracker.before_shell()
            output = _execute(prepared, cancel)  # type: ignore[arg-type]
            if scanned:
                self.tracker.after_shell(record.id, prompt_id, record.name)
        except Cancelled:
            if not cancel.resumable:
                self._finish(record.id, record.call_id, record, "interrupted",
                             ToolOutput(TOOL_INTERRUPTED, is_error=True), prompt_id)
            raise
        except ToolError as err:
            prepared, output = record, ToolOutput(f"error: {err}", is_error=True)
        self._finish(record.id, record.call_id, prepared, "failed" if output.is_error else "done",
                     output, prompt_id)


def output_extent(text: str) -> dict[str, Any]:
    """What a ``tool.finished`` event says of the whole result beyond its first ``EXCERPT``
    characters: ``output_lines`` (how many lines it has) and, when it is longer,
    ``output_tail`` (its last ``EXCERPT`` characters: where a failing command says why)."""
    extent: dict[str, Any] = {"output_lines": text.count("\n") + (bool(text) and not text.endswith("\n"))}
    if len(text) > EXCERPT:
        extent["output_tail"] = text[-EXCERPT:]
    return extent


def _server(server: str | None) -> dict[str, str]:
    """The ``server`` field of an MCP call's events (none for agentcli's own tools)."""
    return {"server": server} if server else {}


def _interrupted_text(kind: str | None, policy: str) -> str:
    """What the model is told of a call stopped while it ran."""
    if kind == "shell":
        return SHELL_INTERRUPTED
    return CALL_INTERRUPTED if policy == "interrupt" else TOOL_INTERRUPTED


def _timed(prepared: PreparedCall, cancel: CancelToken) -> tuple[ToolOutput, int]:
    """Run a prepared call; its output and how long it took (ms)."""
    began = time.monotonic()
    output = _execute(prepared, cancel)
    return output, int((time.monotonic() - began) * 1000)


def _execute(prepared: PreparedCall, cancel: CancelToken) -> ToolOutput:
    """Run a prepared call. ``PreparedCall.execute`` returns every failure as an error output
    (a bug in a tool must not wedge the session on every resume); only a cancel escapes."""
    return prepared.execute(cancel)
