"""``edit_file(path, old_string, new_string, replace_all?)``: an exact text replacement.

Prepare finds the text (once, unless ``replace_all``) and works out the file's new bytes;
execute writes exactly those. Absent or ambiguous text fails at prepare, clearly.

Example:
    >>> call = default_registry(ws).prepare(
    ...     "edit_file", '{"path": "a.py", "old_string": "x = 1", "new_string": "x = 2"}')
    >>> call.summary, call.execute().text
    ('edit a.py', 'Edited a.py: replaced 1 occurrence.')
"""

from __future__ import annotations

from typing import Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.tools.arguments import PATH_PARAMETER, function_schema
from agentcli.agent.tools.base import PreparedCall, Tool, ToolContext, ToolOutput
from agentcli.agent.tools.readers import refuse_special_or_large
from agentcli.agent.workspace.edits import apply_edit, plan_replace


class EditFile(Tool):
    """Replace an exact piece of text in a file (line endings kept as the file has them)."""

    name = "edit_file"
    kind = "edit"
    mutates = True

    def schema(self) -> dict[str, Any]:
        """The schema the model sees."""
        return function_schema(
            self.name,
            "Replace an exact piece of text in a file. old_string must match the file exactly "
            "(whitespace and indentation included, without line-number prefixes) and occur "
            "once, unless replace_all is true. Read the file first.",
            {
                "path": dict(PATH_PARAMETER),
                "old_string": {"type": "string", "description": "The exact text to replace."},
                "new_string": {"type": "string", "description": "The text to put in its place."},
                "replace_all": {"type": "boolean",
                                "description": "Replace every occurrence (default false)."},
            },
            ["path", "old_string", "new_string"],
        )

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        """Plan the replacement; ToolError if the text is absent, not unique or unchanged."""
        refuse_special_or_large(ctx.workspace, args["path"], self.limits.edit_byte_limit, "edit_file")
        edit, count = plan_replace(ctx.workspace, args["path"], args["old_string"],
                                   args["new_string"], bool(args.get("replace_all", False)))
        text = f"Edited {edit.path}: replaced {count} occurrence{'s' if count > 1 else ''}."

        def replace(token: CancelToken) -> ToolOutput:
            apply_edit(ctx.workspace, edit)
            return ToolOutput(text)

        return self.call(args, f"edit {edit.path}", replace, [edit])
