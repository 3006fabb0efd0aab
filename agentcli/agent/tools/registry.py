"""The open tool registry: the set of tools offered to the model (what a tool is: ``base.py``).

The runner journals a call's intent, then calls :meth:`PreparedCall.execute`. A bad call
raises :class:`ToolError` from prepare; execute never raises for a tool failure, it
returns an error :class:`ToolOutput`.

The runner knows no tool by name: a new tool (an MCP tool, ``scout``) is a new
:class:`Tool` registered here, nothing more.

Example:
    >>> tools = default_registry(Workspace(Path("/repo")))
    >>> call = tools.prepare("edit_file", '{"path": "a.py", "old_string": "1", "new_string": "2"}')
    >>> call.kind, call.summary, call.edits[0].op
    ('edit', 'edit a.py', 'modify')
    >>> call.execute().text
    'Edited a.py: replaced 1 occurrence.'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from agentcli.agent.cancel import Cancelled
from agentcli.agent.errors import ToolError, stops_run
from agentcli.agent.tools.arguments import parse_arguments
from agentcli.agent.tools.base import (
    DEFAULT_LIMITS,
    RESUME_POLICIES,
    TOOL_KINDS,
    PreparedCall,
    Tool,
    ToolContext,
    ToolLimits,
    ToolOutput,
    failure_text,
    one_line,
    resume_policy,
)
from agentcli.agent.tools.edit_file import EditFile
from agentcli.agent.tools.list_files import ListFiles
from agentcli.agent.tools.read_file import ReadFile
from agentcli.agent.tools.run_shell import RunShell
from agentcli.agent.tools.search import Search
from agentcli.agent.tools.update_plan import UpdatePlan
from agentcli.agent.tools.write_file import WriteFile
from agentcli.agent.workspace.jail import Workspace

if TYPE_CHECKING:
    from agentcli.agent.sandbox.handle import ShellSandbox

READ_ONLY_TOOLS = ("read_file", "list_files", "search")
"""The built-in tools a read-only helper (a scout) is given; :meth:`ToolRegistry.readers`
adds the read-only tools of MCP servers."""


class ToolRegistry:
    """The tools offered to the model, in order, bound to one :class:`ToolContext`."""

    def __init__(self, tools: Iterable[Tool], ctx: ToolContext):
        self.ctx = ctx
        self._tools: dict[str, Tool] = {}
        self._schemas: list[dict[str, Any]] | None = None  # built once, again after a register
        for tool in tools:
            self.register(tool)

    @property
    def names(self) -> tuple[str, ...]:
        """The tool names, in the order they are offered."""
        return tuple(self._tools)

    def register(self, tool: Tool) -> None:
        """Offer one more tool. Raises ValueError for a taken name or an unknown kind."""
        if tool.name in self._tools:
            raise ValueError(f"a tool named {tool.name!r} is already registered")
        if tool.kind not in TOOL_KINDS:
            raise ValueError(f"tool {tool.name!r} has kind {tool.kind!r}; "
                             f"the kinds are: {', '.join(TOOL_KINDS)}")
        declared = tool.schema()["function"]["name"]
        if declared != tool.name:
            raise ValueError(f"tool {tool.name!r} declares the schema of {declared!r}")
        self._tools[tool.name] = tool
        self._schemas = None

    def get(self, name: str) -> Tool:
        """The tool called ``name``; ToolError (naming the tools there are) if none is."""
        tool = self._tools.get(name)
        if tool is None:
            raise ToolError(f"Unknown tool {name!r}. The tools are: {', '.join(self._tools)}.")
        return tool

    def schemas(self) -> list[dict[str, Any]]:
        """The ``tools`` list for a Chat Completions request: the same list, not to be
        changed, until a tool is added (the client encodes it once, by identity)."""
        if self._schemas is None:
            self._schemas = [tool.schema() for tool in self._tools.values()]
        return self._schemas

    def prepare(self, name: str, raw_arguments: str | Mapping[str, Any]) -> PreparedCall:
        """Check a call against its tool's schema and work out what it will do, touching nothing.

        Raises:
            ToolError: unknown tool, arguments that are not a JSON object, a missing or
                mistyped argument, a refused path, or an edit that cannot apply.
        """
        try:
            tool = self.get(name)
            args = tool.check(parse_arguments(name, raw_arguments))
            return tool.prepare(args, self.ctx)
        except Cancelled:
            raise
        except Exception as exc:  # whatever a tool's checks meet, the model reads it as an error
            if stops_run(exc):
                raise
            raise ToolError(failure_text(name, exc)) from None

    def find(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        return self._tools.get(name)

    def server_of(self, name: str) -> str | None:
        """The MCP server of the tool called ``name`` (None for agentcli's own, or no such tool)."""
        tool = self._tools.get(name)
        return tool.server if tool is not None else None

    def readers(self) -> ToolRegistry:
        """A registry of the tools of kind ``read`` (what a read-only helper, a scout, is given)."""
        return ToolRegistry([t for t in self._tools.values() if t.kind == "read"], self.ctx)

    def only(self, names: Iterable[str]) -> ToolRegistry:
        """A registry of just these tools (in this registry's order), e.g. a scout's readers."""
        wanted = set(names)
        unknown = wanted - set(self._tools)
        if unknown:
            raise ValueError(f"unknown tools: {sorted(unknown)}")
        return ToolRegistry([t for t in self._tools.values() if t.name in wanted], self.ctx)


def default_registry(workspace: Workspace, limits: ToolLimits = DEFAULT_LIMITS,
                     shell_env: Mapping[str, str] | None = None,
                     sandbox: ShellSandbox | None = None) -> ToolRegistry:
    """The seven built-in tools of the spec, in the order they are offered; ``sandbox``
    confines ``run_shell`` (None: its commands run unconfined)."""
    builtins = (ReadFile, ListFiles, Search, WriteFile, EditFile, RunShell, UpdatePlan)
    return ToolRegistry([tool(limits) for tool in builtins],
                        ToolContext(workspace, limits, shell_env, sandbox=sandbox))


__all__ = ["DEFAULT_LIMITS", "READ_ONLY_TOOLS", "RESUME_POLICIES", "TOOL_KINDS", "PreparedCall", "Tool",
           "ToolContext", "ToolLimits", "ToolOutput", "ToolRegistry", "default_registry", "failure_text",
           "one_line", "resume_policy"]
