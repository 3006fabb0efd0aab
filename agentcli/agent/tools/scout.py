"""``scout(tasks)``: hand questions to read-only sub-agents that work in parallel (SPEC §4).

The tool itself only checks the tasks; the work is the :class:`FanOut` injected at
construction (:class:`~agentcli.agent.scouts.ScoutFanout`), which journals the scouts, runs
them and returns their reports.
``depth`` is how deep the agent offering the tool sits (the orchestrator is 0): the
scouts it starts sit one deeper.

Example:
    >>> tools.register(ScoutTool(fanout, depth=0))
    >>> call = tools.prepare("scout", '{"tasks": ["Where is the config read?"]}')
    >>> call.summary
    'scout 1 task'
"""

from __future__ import annotations

from typing import Any, Protocol

from agentcli.agent.cancel import CancelToken
from agentcli.agent.errors import ToolError
from agentcli.agent.tools.arguments import function_schema
from agentcli.agent.tools.base import PreparedCall, Tool, ToolContext, ToolLimits, ToolOutput


class FanOut(Protocol):
    """What runs a scout call's tasks (the scouts' side of the tool)."""

    max_steps: int  # model calls per scout
    parallel: int  # scouts running at once
    limits: ToolLimits

    def run(self, parent_row: int, tasks: list[str], depth: int, cancel: CancelToken) -> ToolOutput:
        """Run (or finish) the scouts of tool call ``parent_row``; every report, in task order."""

MAX_TASKS = 64  # more than this in one call is a mistake, not a plan
MAX_TASK_CHARS = 4000


class ScoutTool(Tool):
    """Run each task as a scout; the tool result is every report, in task order."""

    name = "scout"
    kind = "agent"
    mutates = False

    def __init__(self, fanout: FanOut, depth: int = 0):
        super().__init__(fanout.limits)
        self.fanout = fanout
        self.depth = depth

    def schema(self) -> dict[str, Any]:
        """The schema the model sees; it quotes the configured parallelism and step limit."""
        fanout = self.fanout
        return function_schema(
            self.name,
            "Send read-only scouts to investigate the code in parallel. Each task runs as its own "
            "sub-agent with read_file, list_files and search only (no edits, no shell), up to "
            f"{fanout.max_steps} steps, {fanout.parallel} at a time. Give independent, "
            "self-contained questions (\"Where is X handled?\", \"Summarise module Y: its public "
            "functions and what calls them\"); a scout sees only its task, not this conversation. "
            "The result holds each scout's report, labelled and in task order.",
            {
                "tasks": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": f"One question or job per scout (1 to {MAX_TASKS}).",
                },
            },
            ["tasks"],
        )

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        """Check the tasks now; the fan-out runs when the call is executed."""
        tasks = validate_tasks(args["tasks"])

        def run(token: CancelToken) -> ToolOutput:
            if call.row is None:
                raise ToolError("scout can only run as a journaled tool call")
            return self.fanout.run(call.row, tasks, self.depth + 1, token)

        call = self.call(args, f"scout {len(tasks)} task{'' if len(tasks) == 1 else 's'}", run)
        return call


def validate_tasks(tasks: list[Any]) -> list[str]:
    """The tasks, stripped; ToolError naming the first bad one."""
    if not tasks:
        raise ToolError("scout needs at least one task in tasks.")
    if len(tasks) > MAX_TASKS:
        raise ToolError(f"scout takes at most {MAX_TASKS} tasks in one call, not {len(tasks)}; "
                        "group related questions into one task.")
    checked = []
    for index, task in enumerate(tasks):
        if not isinstance(task, str) or not task.strip():
            raise ToolError(f"tasks[{index}] must be a non-empty string (one question for one scout).")
        if len(task) > MAX_TASK_CHARS:
            raise ToolError(f"tasks[{index}] is {len(task)} characters long; keep a task under "
                            f"{MAX_TASK_CHARS}.")
        checked.append(task.strip())
    return checked
