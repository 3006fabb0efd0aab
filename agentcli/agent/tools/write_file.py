"""``write_file(path, content)``: create a file or replace its whole content.

Prepare works out the exact bytes (and mode) before and after; execute writes exactly those.

Example:
    >>> call = default_registry(ws).prepare("write_file", '{"path": "n.txt", "content": "hi\\n"}')
    >>> call.summary, call.edits[0].op, call.execute().text
    ('create n.txt', 'create', 'Created n.txt (1 lines, 3 bytes).')
"""

from __future__ import annotations

from typing import Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.errors import ToolError
from agentcli.agent.tools.arguments import PATH_PARAMETER, function_schema
from agentcli.agent.tools.base import PreparedCall, Tool, ToolContext, ToolOutput
from agentcli.agent.tools.readers import refuse_special_or_large
from agentcli.agent.workspace.edits import apply_edit, plan_write


class WriteFile(Tool):
    """Write a whole file, creating parent folders; an unchanged write plans no edit."""

    name = "write_file"
    kind = "edit"
    mutates = True

    def schema(self) -> dict[str, Any]:
        """The schema the model sees."""
        return function_schema(
            self.name,
            "Create a file or replace its whole content. Parent folders are created. Prefer "
            "edit_file to change part of an existing file.",
            {
                "path": dict(PATH_PARAMETER),
                "content": {"type": "string", "description": "The complete new content."},
            },
            ["path", "content"],
        )

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        """Plan the write (refusing paths outside the jail and folders), touching nothing."""
        content: str = args["content"]
        limit = self.limits.edit_byte_limit
        refuse_special_or_large(ctx.workspace, args["path"], limit, "write_file")
        size = len(content) if len(content) > limit else len(content.encode("utf-8"))
        if size > limit:
            raise ToolError(f"content is too large ({size} characters or more; the limit is {limit} "
                            "bytes). Write the file in parts with run_shell, or generate it.")
        edit = plan_write(ctx.workspace, args["path"], content)
        if edit is None:
            rel = ctx.workspace.relative(ctx.workspace.resolve(args["path"]))
            same = ToolOutput(f"{rel} already has this content; nothing changed.")
            return self.call(args, f"write {rel}", lambda token: same)
        lines = content.count("\n") + (not content.endswith("\n"))
        verb = "Created" if edit.op == "create" else "Wrote"
        text = f"{verb} {edit.path} ({lines} lines, {len(edit.after or b'')} bytes)."

        def write(token: CancelToken) -> ToolOutput:
            apply_edit(ctx.workspace, edit)
            return ToolOutput(text)

        summary = f"{'create' if edit.op == 'create' else 'write'} {edit.path}"
        return self.call(args, summary, write, [edit])
