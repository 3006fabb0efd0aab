"""Approval questions as ``session/request_permission``, and the editor's choice as the answer.

The engine's ``approval.requested`` event says everything the terminal shows (the command,
the diff of every edit, what "always" would allow); the editor gets the same as the
question's tool call and its options, which mean exactly the terminal's answers:

- ``allow_once`` — ``y``: this call only;
- ``allow_always`` — ``a``: the grant the event describes (every edit of the session, a
  command prefix, one MCP tool), stored in the session; offered only when the event offers
  "always" (never for a compound command, or one outside the sandbox);
- ``reject_once`` — ``n``: the call is denied and the model told so.

There is no ``reject_always``: the terminal has no such answer (agentcli keeps no "never
allow" grants), so offering it would promise what nothing does. A question the editor
cancels (the outcome ``cancelled``), or answers with an option it was not offered, is a no.

Example:
    >>> options(question)   # a shell command that may be granted by prefix
    [PermissionOption(option_id='allow', ...), PermissionOption(option_id='always', ...), ...]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from acp.schema import PermissionOption, RequestPermissionResponse, ToolCallUpdate

from agentcli.agent.engine.operations import AnswerApproval
from agentcli.cli.acp.toolcalls import Content, describe, edit_content, text_content

ALLOW, ALWAYS, REJECT = "allow", "always", "reject"
CHOICES = {ALLOW: "yes", ALWAYS: "always", REJECT: "no"}


def options(question: dict[str, Any]) -> list[PermissionOption]:
    """The answers offered for ``question`` (an ``approval.requested`` event's data)."""
    offered = [PermissionOption(option_id=ALLOW, name="Allow once", kind="allow_once")]
    always = question.get("always")
    if always:
        offered.append(PermissionOption(option_id=ALWAYS, name=always[:1].upper() + always[1:],
                                        kind="allow_always"))
    offered.append(PermissionOption(option_id=REJECT, name="Reject", kind="reject_once"))
    return offered


def question_call(question: dict[str, Any], root: Path) -> ToolCallUpdate:
    """The call the question is about, as the editor shows it beside the options: its
    title, and what it would do — every edit's diff, the command (and why it would run
    outside the sandbox), or an MCP call's arguments."""
    kind, command = question.get("kind"), str(question.get("command", ""))
    described = describe(str(question.get("tool", "")), json.dumps({"command": command}) if command else "",
                         root=root, server=question.get("server") or None)
    content: list[Content] = []
    if kind == "shell":
        lines = [f"$ {line}" for line in command.splitlines()] or ["$"]
        sandbox = question.get("sandbox")
        if sandbox == "outside":
            lines.append("(OUTSIDE THE SANDBOX: it could write anywhere you can, and use the network)")
        elif sandbox == "unavailable":
            lines.append(f"(UNSANDBOXED: there is no sandbox here: {question.get('unsandboxed_reason', '')})")
        if question.get("justification"):
            lines.append(f"why: {question['justification']}")
        content.append(text_content("\n".join(lines), fence=True))
    elif kind == "external":
        content.append(text_content(str(question.get("details") or question.get("summary", "")), fence=True))
    else:
        content += [edit_content(root, edit) for edit in question.get("edits") or []]
        summary = str(question.get("summary") or "")
        if summary:  # "create a.txt": what the call would do, as the terminal asks it
            described.title = summary[:1].upper() + summary[1:]
    return ToolCallUpdate(tool_call_id=str(question.get("call", "")), title=described.title,
                          kind=described.kind, status="pending", content=content)


def answer(question: dict[str, Any], response: RequestPermissionResponse | None) -> AnswerApproval:
    """The engine's answer to ``question`` for the editor's ``response`` (None: it failed)."""
    number = int(question["id"])
    outcome = response.outcome if response is not None else None
    chosen = getattr(outcome, "option_id", None) if getattr(outcome, "outcome", None) == "selected" else None
    if chosen == ALWAYS and not question.get("always"):
        chosen = None  # "always" was not offered: never grant more than was shown
    choice = CHOICES.get(chosen or "", "no")
    reason = "" if chosen else "the question was not answered in the editor"
    return AnswerApproval(number, choice, reason if choice == "no" else "")
