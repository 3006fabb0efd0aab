"""``update_plan(items)``: replace the task plan; the runner stores it through ``record``.

The plan lives in the session (the ``tasks`` table), not the workspace: execute only
describes it, and the call's ``record`` hook writes it inside the transaction that
closes the call, so a plan is stored exactly when its tool result is.

Example:
    >>> call = default_registry(ws).prepare(
    ...     "update_plan", '{"items": [{"title": "Fix it", "status": "in_progress"}]}')
    >>> call.execute().text
    'Plan updated:\\n[>] Fix it'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.errors import ToolError
from agentcli.agent.tools.arguments import function_schema
from agentcli.agent.tools.base import PreparedCall, Tool, ToolContext, ToolOutput
from agentcli.session.records import PLAN_MARKS, PLAN_STATUSES, PlanItem

if TYPE_CHECKING:
    from agentcli.session.session import Session

# The words models actually send (Codex's and Claude's plan tools use some of them): each
# is stored as one of PLAN_STATUSES, so the plan has one vocabulary however it was written.
STATUS_ALIASES = {
    "todo": "pending", "to_do": "pending", "not_started": "pending", "open": "pending", "planned": "pending",
    "inprogress": "in_progress", "doing": "in_progress", "active": "in_progress", "started": "in_progress",
    "working": "in_progress", "current": "in_progress",
    "completed": "done", "complete": "done", "finished": "done", "closed": "done",
}


class UpdatePlan(Tool):
    """Replace the whole plan with a list of ``{title, status}`` steps."""

    name = "update_plan"
    kind = "plan"
    mutates = False  # the session's plan changes, the workspace does not

    def schema(self) -> dict[str, Any]:
        """The schema the model sees."""
        return function_schema(
            self.name,
            "Replace the task plan with this list of steps. Keep it short; mark the step you "
            "work on `in_progress` and finished ones `done`.",
            {
                "items": {
                    "type": "array",
                    "description": "The whole plan, in order.",
                    "items": {
                        "type": "object",
                        "properties": {
                            "title": {"type": "string", "description": "What the step does."},
                            "status": {"type": "string", "enum": list(PLAN_STATUSES),
                                       "description": "pending, in_progress or done."},
                        },
                        "required": ["title", "status"],
                        "additionalProperties": False,
                    },
                },
            },
            ["items"],
        )

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        """Check every item; the call's ``record`` stores the plan for the runner."""
        items = validate_plan(args["items"])
        lines = [f"{PLAN_MARKS[item['status']]} {item['title']}" for item in items]
        text = "Plan updated:\n" + "\n".join(lines) if lines else "Plan cleared."

        def describe(token: CancelToken) -> ToolOutput:
            return ToolOutput(text, data={"items": items})

        def record(session: Session, row: int) -> None:
            session.plan.replace(row, [PlanItem(i["title"], i["status"]) for i in items])

        return self.call(args, f"update plan ({len(items)} items)", describe, record=record)


def validate_plan(items: list[Any]) -> list[dict[str, str]]:
    """Plan items as ``{"title", "status"}`` dicts (titles stripped); ToolError naming a bad one."""
    plan: list[dict[str, str]] = []
    for index, item in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            raise ToolError(f"{where} must be an object with title and status.")
        title, status = item.get("title"), normal_status(item.get("status"))
        if not isinstance(title, str) or not title.strip():
            raise ToolError(f"{where}.title must be a non-empty string.")
        if status not in PLAN_STATUSES:
            raise ToolError(
                f"{where}.status must be one of {', '.join(PLAN_STATUSES)}, not {item.get('status')!r}."
            )
        plan.append({"title": title.strip(), "status": status})
    return plan


def normal_status(status: Any) -> Any:
    """A plan status as stored: ``completed`` and ``In-Progress`` become ``done`` and
    ``in_progress``; anything unknown is returned as it came (and refused)."""
    if not isinstance(status, str):
        return status
    key = status.strip().lower().replace("-", "_").replace(" ", "_")
    return key if key in PLAN_STATUSES else STATUS_ALIASES.get(key, status)
