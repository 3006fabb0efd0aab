"""Approval questions as events, answered by an operation.

The agent's thread asks (:meth:`Approvals.ask`, the ``Asker`` the approver calls): the
question goes out as an ``approval.requested`` event carrying everything a client shows
— the command, the diff of every edit, what "always" would allow — and the agent waits
for an :class:`~agentcli.agent.engine.operations.AnswerApproval` naming its id, waking
on its cancel token. A question the turn no longer needs (it was interrupted) is
withdrawn: ``approval.resolved`` with ``choice`` ``withdrawn`` tells the client to stop
showing it. Nothing here reads a terminal.

Example:
    >>> approvals = Approvals(emit)
    >>> # on the agent's thread: approvals.ask(request, token) blocks ...
    >>> approvals.answer(AnswerApproval(request=1, choice="yes"))
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError  # not the builtin before 3.11
from typing import Any

from agentcli.agent.approval import ApprovalAnswer, ApprovalRequest
from agentcli.agent.cancel import Cancelled, CancelToken
from agentcli.agent.engine.operations import AnswerApproval
from agentcli.agent.events import Event, EventSink

CHOICES = ("yes", "no", "always")
_WAKE_SECONDS = 0.05


class Approvals:
    """The questions waiting for an answer, by id."""

    def __init__(self, emit: EventSink):
        self._emit = emit
        self._ids = itertools.count(1)
        self._waiting: dict[int, Future[ApprovalAnswer]] = {}
        self._lock = threading.Lock()

    def ask(self, request: ApprovalRequest, cancel: CancelToken) -> ApprovalAnswer:
        """Put ``request`` to the client and wait for its answer (raise Cancelled if the
        token is set first: the question is then withdrawn)."""
        answered: Future[ApprovalAnswer] = Future()
        with self._lock:
            number = next(self._ids)
            self._waiting[number] = answered
        self._emit(Event("approval.requested", describe(number, request)))
        try:
            while True:
                cancel.check()
                try:
                    return answered.result(timeout=_WAKE_SECONDS)
                except FutureTimeoutError:
                    continue
        except Cancelled:
            self._emit(Event("approval.resolved", {"id": number, "agent": request.agent,
                                                   "choice": "withdrawn"}))
            raise
        finally:
            with self._lock:
                self._waiting.pop(number, None)

    def answer(self, op: AnswerApproval) -> bool:
        """Answer question ``op.request``; False when no such question waits (already
        answered, withdrawn, or never asked)."""
        if op.choice not in CHOICES:
            raise ValueError(f"an approval answer is one of {', '.join(CHOICES)}, not {op.choice!r}")
        with self._lock:
            waiting = self._waiting.get(op.request)
        if waiting is None or waiting.done():
            return False
        waiting.set_result(ApprovalAnswer(op.choice, op.reason))
        self._emit(Event("approval.resolved", {"id": op.request, "choice": op.choice}))
        return True

    @property
    def waiting(self) -> list[int]:
        """The ids of the questions not yet answered."""
        with self._lock:
            return sorted(self._waiting)


def describe(number: int, request: ApprovalRequest) -> dict[str, Any]:
    """The ``approval.requested`` event's data: all a client needs to show the question."""
    from agentcli.agent.grants import describe_grant, grant_for
    from agentcli.agent.workspace.edit_text import describe_edit

    if request.always_asked:  # outside the sandbox: asked every time, never granted
        always = None
    elif request.kind == "external":
        always = f"always allow {request.tool} (this tool of MCP server {request.server} only)"
    elif request.kind == "shell":
        offered = grant_for(request.command) is not None
        always = describe_grant(request.command) if offered else None
    else:
        always = "always allow every file edit in this session"
    confinement = request.confinement
    return {
        "id": number, "agent": request.agent, "call": request.call_id, "tool": request.tool,
        "kind": request.kind, "summary": request.summary, "command": request.command,
        "edits": [describe_edit(edit) for edit in request.edits], "always": always,
        "server": request.server, "details": request.details,
        "sandbox": confinement.mode if confinement else None,
        "justification": confinement.justification if confinement else "",
        "unsandboxed_reason": confinement.reason if confinement else "",
    }
