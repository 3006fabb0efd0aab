"""``read_file(path, offset?, limit?)``: a text file's lines, numbered like ``cat -n``.

Example:
    >>> call = default_registry(ws).prepare("read_file", '{"path": "app.py", "limit": 1}')
    >>> call.summary, call.execute().text
    ('read app.py', '     1\\timport os\\n[showing lines 1-1 of 9; read on with offset=2]')
"""

from __future__ import annotations

from typing import Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.errors import ToolError
from agentcli.agent.tools.arguments import PATH_PARAMETER, function_schema
from agentcli.agent.tools.base import PreparedCall, Tool, ToolContext, ToolOutput
from agentcli.agent.tools.readers import read_text


class ReadFile(Tool):
    """Read a window of a text file; binary files are reported, not shown."""

    name = "read_file"
    kind = "read"
    mutates = False

    def schema(self) -> dict[str, Any]:
        """The schema; the line limit quoted is the configured one."""
        lines = self.limits.read_line_limit
        return function_schema(
            self.name,
            "Read a text file. Lines come numbered like `cat -n` (number, tab, text); the numbers "
            f"are not part of the file. Reads up to {lines} lines at a time; use offset and limit "
            "for more. Binary files are reported, not shown.",
            {
                "path": dict(PATH_PARAMETER),
                "offset": {"type": "integer", "minimum": 1,
                           "description": "1-based number of the first line to read (default 1)."},
                "limit": {"type": "integer", "minimum": 1,
                          "description": f"How many lines to read (default and maximum {lines})."},
            },
            ["path"],
        )

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        """Refuse a path outside the jail or a missing file now; read when executed."""
        path, offset, limit = args["path"], args.get("offset", 1), args.get("limit")
        real = ctx.workspace.resolve(path)
        if not real.exists():
            raise ToolError(f"File not found: {path!r}. Use list_files to see what exists.")

        def read(token: CancelToken) -> ToolOutput:
            return ToolOutput(read_text(ctx.workspace, path, offset, limit, self.limits))

        return self.call(args, f"read {ctx.workspace.relative(real)}", read)
