"""``search(pattern, path?, glob?)``: a regular-expression search over the workspace's files.

Example:
    >>> print(default_registry(ws).prepare("search", '{"pattern": "def main"}').execute().text)
    app.py:12: def main() -> None:
"""

from __future__ import annotations

from typing import Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.tools.arguments import function_schema
from agentcli.agent.tools.base import PreparedCall, Tool, ToolContext, ToolOutput, one_line
from agentcli.agent.tools.readers import compile_regex, search_text
from agentcli.agent.workspace.walk import compile_glob


class Search(Tool):
    """Search file contents line by line; results are ``path:line: text``, capped."""

    name = "search"
    kind = "read"
    mutates = False

    def schema(self) -> dict[str, Any]:
        """The schema; the result cap quoted is the configured one."""
        return function_schema(
            self.name,
            "Search file contents with a Python regular expression, line by line. Results are "
            f"`path:line: text`, at most {self.limits.search_match_limit}. Honours .gitignore; "
            "binary files are skipped.",
            {
                "pattern": {"type": "string",
                            "description": "Python regular expression, e.g. `def \\w+_handler`."},
                "path": {"type": "string",
                         "description": "File or folder to search (default: the root)."},
                "glob": {"type": "string",
                         "description": "Only search files matching this glob, e.g. `*.py`."},
            },
            ["pattern"],
        )

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        """Refuse an invalid expression or a path outside the jail now; search when executed."""
        pattern, path, glob = args["pattern"], args.get("path", "."), args.get("glob")
        compile_regex(pattern)
        if glob:
            compile_glob(glob)
        rel = ctx.workspace.relative(ctx.workspace.resolve(path))
        summary = f"search /{pattern}/ in {rel}" + (f" ({glob})" if glob else "")

        def search(token: CancelToken) -> ToolOutput:
            return ToolOutput(search_text(ctx.workspace, pattern, path, glob, self.limits, token))

        return self.call(args, one_line(summary), search)
