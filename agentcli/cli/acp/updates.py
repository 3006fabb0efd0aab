"""Engine events as ACP ``session/update`` notifications, for one session.

The engine's events carry everything a client draws (SPEC §9); :class:`UpdateMapper`
turns each into the updates an editor shows, and keeps only what that needs (which calls
were announced, the edits a call will make, a running command's output so far):

- ``assistant.delta`` of the orchestrator → ``agent_message_chunk`` (an answer that was
  not streamed: its ``assistant.message`` text);
- ``tool.started`` → ``tool_call`` (kind, title, locations, the raw arguments), or a
  ``tool_call_update`` when a resumed call was already shown; ``tool.prepared`` → its
  edits as ``diff`` content; ``tool.output`` → the command's output so far (at most five
  times a second); ``tool.finished`` → its final status and content, and for
  ``update_plan`` a ``plan`` update;
- ``approval.requested`` → the call waits (``pending``), and runs (``in_progress``) once
  ``approval.resolved`` allows it (the question itself is ``permissions.py``'s);
- scouts (``scouts.started``, ``scout.started``, ``scout.progress``, ``scout.finished``)
  → one tool call per scout, its task the title, its steps the progress;
- ``approval.changed`` → ``current_mode_update``; ``warning`` → an ``agent_thought_chunk``.

Example:
    >>> mapper = UpdateMapper(Path("/repo"))
    >>> mapper.updates(Event("assistant.delta", {"agent": "orchestrator", "text": "Hi"}))
    [AgentMessageChunk(... text='Hi' ...)]
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from acp.schema import (
    AgentMessageChunk,
    AgentPlanUpdate,
    AgentThoughtChunk,
    CurrentModeUpdate,
    TextContentBlock,
    ToolCallProgress,
    ToolCallStart,
)

from agentcli.agent.events import Event
from agentcli.cli.acp.toolcalls import (
    Content,
    arguments_of,
    describe,
    edit_content,
    final_status,
    plan_entries,
    result_content,
    text_content,
)
from agentcli.session.records import ORCHESTRATOR

Update = (AgentMessageChunk | AgentThoughtChunk | AgentPlanUpdate | CurrentModeUpdate | ToolCallStart
          | ToolCallProgress)
OUTPUT_EVERY = 0.2  # seconds between two updates of a running command's output
SCOUT_STATUSES = {"queued": "pending", "running": "in_progress", "done": "completed"}


def message_chunk(text: str) -> AgentMessageChunk:
    """Text of the agent's answer."""
    block = TextContentBlock(type="text", text=text)
    return AgentMessageChunk(session_update="agent_message_chunk", content=block)


def thought_chunk(text: str) -> AgentThoughtChunk:
    """A note beside the answer (a warning), shown as the agent's thinking."""
    block = TextContentBlock(type="text", text=text)
    return AgentThoughtChunk(session_update="agent_thought_chunk", content=block)


def call_update(call_id: str, **fields: Any) -> ToolCallProgress:
    """A ``tool_call_update`` of ``call_id`` changing ``fields`` only."""
    return ToolCallProgress(session_update="tool_call_update", tool_call_id=call_id, **fields)


class UpdateMapper:
    """One session's events → ACP updates (see the module docstring)."""

    def __init__(self, root: Path):
        self.root = root
        self.announced: set[str] = set()  # calls (and scouts) the editor was shown
        self._names: dict[str, str] = {}  # call id -> tool name
        self._edits: dict[str, list[Content]] = {}  # call id -> its diffs
        self._output: dict[str, str] = {}  # call id -> a running command's output so far
        self._sent_output: dict[str, float] = {}
        self._current = ""  # the orchestrator's call running now (tool.output names none)
        self._streamed = False  # the answer being written came as deltas

    def updates(self, event: Event) -> list[Update]:
        """The updates for one event (none for what an editor does not show)."""
        handler = getattr(self, "_on_" + event.type.replace(".", "_"), None)
        if handler is None:
            return []
        return handler(event.data) or []

    # -- the answer ---------------------------------------------------------------------
    def _on_model_request(self, data: dict[str, Any]) -> None:
        if data.get("agent", ORCHESTRATOR) == ORCHESTRATOR:
            self._streamed = False

    def _on_assistant_delta(self, data: dict[str, Any]) -> list[Update]:
        if data.get("agent", ORCHESTRATOR) != ORCHESTRATOR or not data.get("text"):
            return []
        self._streamed = True
        return [message_chunk(data["text"])]

    def _on_assistant_message(self, data: dict[str, Any]) -> list[Update]:
        if data.get("agent", ORCHESTRATOR) != ORCHESTRATOR or self._streamed or not data.get("content"):
            return []
        return [message_chunk(data["content"])]

    def _on_warning(self, data: dict[str, Any]) -> list[Update]:
        return [thought_chunk(f"agentcli: {data.get('message', '')}\n")]

    def _on_approval_changed(self, data: dict[str, Any]) -> list[Update]:
        return [CurrentModeUpdate(session_update="current_mode_update", current_mode_id=data["mode"])]

    # -- tool calls ----------------------------------------------------------------------
    def _on_tool_started(self, data: dict[str, Any]) -> list[Update]:
        if data.get("agent", ORCHESTRATOR) != ORCHESTRATOR:
            return []
        call_id, name = str(data.get("id", "")), str(data.get("name", ""))
        self._names[call_id] = name
        self._current = call_id
        described = describe(name, str(data.get("arguments", "")), root=self.root, server=data.get("server"))
        fields = {"title": described.title, "kind": described.kind, "status": "in_progress",
                  "locations": described.locations, "raw_input": arguments_of(str(data.get("arguments", "")))}
        if call_id in self.announced:  # a call a crash caught running, shown by the replay
            return [call_update(call_id, **fields)]
        self.announced.add(call_id)
        return [ToolCallStart(session_update="tool_call", tool_call_id=call_id, **fields)]

    def _on_tool_prepared(self, data: dict[str, Any]) -> list[Update]:
        call_id = str(data.get("id", ""))
        diffs = [edit_content(self.root, edit) for edit in data.get("edits") or []]
        self._edits[call_id] = diffs
        return [call_update(call_id, content=diffs)] if diffs else []

    def _on_approval_requested(self, data: dict[str, Any]) -> list[Update]:
        call_id = str(data.get("call", ""))
        return [call_update(call_id, status="pending")] if call_id in self.announced else []

    def _on_approval_resolved(self, data: dict[str, Any]) -> list[Update]:
        return []  # the call's own events say what happened next (tool.finished, or output)

    def _on_tool_output(self, data: dict[str, Any]) -> list[Update]:
        call_id = self._current
        if data.get("agent", ORCHESTRATOR) != ORCHESTRATOR or not call_id:
            return []
        self._output[call_id] = (self._output.get(call_id, "") + str(data.get("text", "")))[-100_000:]
        now = time.monotonic()
        if now - self._sent_output.get(call_id, 0.0) < OUTPUT_EVERY:
            return []
        self._sent_output[call_id] = now
        return [call_update(call_id, status="in_progress",
                            content=[text_content(self._output[call_id], fence=True)])]

    def _on_tool_finished(self, data: dict[str, Any]) -> list[Update]:
        if data.get("agent", ORCHESTRATOR) != ORCHESTRATOR:
            return []
        call_id = str(data.get("id", ""))
        name = str(data.get("name") or self._names.pop(call_id, ""))
        status = str(data.get("status", "failed"))
        output = self._output.pop(call_id, "")
        if output and "exit_code" in data:  # the live output, and how it ended (as the model is told)
            end = "timed out" if data.get("timed_out") else f"exit code: {data['exit_code']}"
            output = f"{output}{'' if output.endswith(chr(10)) else chr(10)}[{end}]"
        output = output or str(data.get("output") or "")
        self._sent_output.pop(call_id, None)
        if call_id == self._current:
            self._current = ""
        content = self._edits.pop(call_id, [])
        if status != "done" or not content:  # an edit keeps its diff; a failure says why too
            content = [*content, *result_content(name, status, output)]
        raw = {key: data[key] for key in ("status", "exit_code", "timed_out", "duration_ms") if key in data}
        updates: list[Update] = []
        if call_id not in self.announced:  # one that failed before it was announced
            self.announced.add(call_id)
            updates.append(ToolCallStart(session_update="tool_call", tool_call_id=call_id,
                                         title=name or "tool call", kind="other", status="pending"))
        updates.append(call_update(call_id, status=final_status(status), content=content, raw_output=raw))
        if data.get("items") is not None and status == "done":
            updates.append(AgentPlanUpdate(session_update="plan", entries=plan_entries(data["items"])))
        return updates

    # -- scouts ----------------------------------------------------------------------------
    def _on_scouts_started(self, data: dict[str, Any]) -> list[Update]:
        updates: list[Update] = []
        for scout in data.get("scouts") or []:
            status = SCOUT_STATUSES.get(str(scout.get("status")), "failed")
            updates += self._scout(str(scout.get("id", "")), str(scout.get("task", "")), status)
        return updates

    def _on_scout_started(self, data: dict[str, Any]) -> list[Update]:
        return self._scout(str(data.get("id", "")), str(data.get("task", "")), "in_progress")

    def _on_scout_progress(self, data: dict[str, Any]) -> list[Update]:
        scout = str(data.get("id", ""))
        if scout not in self.announced:
            return []
        line = f"step {data.get('steps', 0)}: {data.get('activity', '')}"
        return [call_update(scout, content=[text_content(line)])]

    def _on_scout_finished(self, data: dict[str, Any]) -> list[Update]:
        scout = str(data.get("id", ""))
        status = str(data.get("status", "failed"))
        steps = data.get("steps", 0)
        line = f"{status} after {steps} step{'s' if steps != 1 else ''}"
        if data.get("error"):
            line += f": {data['error']}"
        updates = [] if scout in self.announced else self._scout(scout, str(data.get("task", "")), "pending")
        return [*updates, call_update(scout, status=SCOUT_STATUSES.get(status, "failed"),
                                      content=[text_content(line)])]

    def _scout(self, scout: str, task: str, status: str) -> list[Update]:
        if not scout:
            return []
        if scout in self.announced:
            return [call_update(scout, status=status)]
        self.announced.add(scout)
        title = f"Scout: {task.strip().splitlines()[0][:120]}" if task.strip() else f"Scout {scout}"
        return [ToolCallStart(session_update="tool_call", tool_call_id=scout, kind="search", status=status,
                              title=title)]
