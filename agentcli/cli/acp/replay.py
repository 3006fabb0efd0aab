"""A session file's history as ``session/update`` notifications (``session/load``).

What the editor shows of a reopened session is read from the file alone
(:meth:`SessionFacts.conversation`): each prompt as a ``user_message_chunk``, each answer
as an ``agent_message_chunk``, each tool call as a ``tool_call`` with its final status
and content (an edit's diff from the file log, a command's output), and the plan as it
stands. A call a crash caught running is shown ``in_progress``: finishing the turn sends
its end like any call's. Calls the model asked for that never ran are left out; the
resumed turn shows them when it runs them.

Example:
    >>> [type(u).__name__ for u in replay(facts.conversation(), facts.plan(), root)]
    ['UserMessageChunk', 'ToolCallStart', 'AgentMessageChunk', 'AgentPlanUpdate']
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from acp.schema import AgentPlanUpdate, TextContentBlock, ToolCallStart, UserMessageChunk

from agentcli.agent.engine.conversation import NOT_RUN
from agentcli.cli.acp.toolcalls import (
    Content,
    arguments_of,
    describe,
    diff_content,
    final_status,
    plan_entries,
    result_content,
)
from agentcli.cli.acp.updates import Update, message_chunk

if TYPE_CHECKING:
    from agentcli.agent.engine.conversation import PastCall, PastMessage
    from agentcli.session.records import PlanItem

ReplayUpdate = Update | UserMessageChunk


def replay(messages: list[PastMessage], plan: list[PlanItem], root: Path) -> list[ReplayUpdate]:
    """The updates that redraw ``messages`` and ``plan`` (see the module docstring)."""
    updates: list[ReplayUpdate] = []
    for message in messages:
        if message.role == "user":
            block = TextContentBlock(type="text", text=message.text)
            updates.append(UserMessageChunk(session_update="user_message_chunk", content=block))
            continue
        if message.text:
            updates.append(message_chunk(message.text))
        updates += [call_start(call, root) for call in message.calls if call.status != NOT_RUN]
    if plan:
        items = [{"title": item.title, "status": item.status} for item in plan]
        updates.append(AgentPlanUpdate(session_update="plan", entries=plan_entries(items)))
    return updates


def call_start(call: PastCall, root: Path) -> ToolCallStart:
    """One journaled call as the editor shows it once it ended (or while it still runs)."""
    described = describe(call.name, call.arguments, root=root, server=call.server)
    content: list[Content] = [diff_content(root, edit.path, edit.op, edit.old_text, edit.new_text,
                                           binary=edit.binary) for edit in call.edits]
    if call.status != "done" or not content:
        content += result_content(call.name, call.status, call.result or "")
    return ToolCallStart(session_update="tool_call", tool_call_id=call.call_id, title=described.title,
                         kind=described.kind, status=final_status(call.status), content=content,
                         locations=described.locations, raw_input=arguments_of(call.arguments))
