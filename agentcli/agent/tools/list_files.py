"""``list_files(path?, pattern?)``: the files under a folder, ``.gitignore`` honoured.

Example:
    >>> print(default_registry(ws).prepare("list_files", '{"pattern": "*.py"}').execute().text)
    app.py
    src/util.py
"""

from __future__ import annotations

from typing import Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.tools.arguments import function_schema
from agentcli.agent.tools.base import PreparedCall, Tool, ToolContext, ToolOutput
from agentcli.agent.tools.readers import list_text
from agentcli.agent.workspace.walk import compile_glob


class ListFiles(Tool):
    """List files recursively, sorted, skipping ignored ones; long listings are cut."""

    name = "list_files"
    kind = "read"
    mutates = False

    def schema(self) -> dict[str, Any]:
        """The schema; the listing cap quoted is the configured one."""
        return function_schema(
            self.name,
            "List files recursively, sorted, one relative path per line. Files ignored by "
            ".gitignore (unless git tracks them) and the .git folder are left out. Long listings are cut at "
            f"{self.limits.list_limit} files.",
            {
                "path": {"type": "string", "description": "Folder to list (default: the root)."},
                "pattern": {"type": "string",
                            "description": "Glob to filter by, e.g. `*.py` (file name at any depth) "
                                           "or `src/**/*.ts` (whole relative path)."},
            },
            [],
        )

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        """Refuse a path outside the jail now; list when executed."""
        path, pattern = args.get("path", "."), args.get("pattern")
        rel = ctx.workspace.relative(ctx.workspace.resolve(path))
        if pattern:
            compile_glob(pattern)  # an invalid pattern is refused now, not half-way through the walk

        def list_files(token: CancelToken) -> ToolOutput:
            return ToolOutput(list_text(ctx.workspace, path, pattern, self.limits))

        return self.call(args, f"list {rel}" + (f" {pattern}" if pattern else ""), list_files)
