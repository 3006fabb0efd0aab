"""One MCP server tool as an agentcli :class:`~agentcli.agent.tools.registry.Tool`.

The model sees it as ``NAME__tool`` (server name, two underscores, tool name; characters
Chat Completions refuses in a function name become ``_``) with the server's description
and input schema. Arguments are checked with ``jsonschema`` against that schema before
anything is sent: a call that does not fit goes back to the model as an error result.

What the runner and the approval policy make of it follows the tool's annotations (the
server's ``readOnlyHint`` and ``idempotentHint``, or the config's ``read_only`` /
``idempotent`` for that tool):

- read-only: kind ``read`` — allowed in every approval mode, offered to scouts, and run
  again by resume when a crash caught it running;
- otherwise kind ``external`` — asked like a shell command in ``ask`` and ``auto-edit``,
  allowed in ``full-auto``, denied in ``read-only``; the workspace is scanned around the
  call like around a command, so rollback undoes what it changed there; resume re-sends a
  call caught running only when the tool is idempotent, else it is ``interrupted`` and the
  model is told it may have happened.

Example:
    >>> tool = McpTool(hub, RemoteTool("git", "git_status", "git__git_status", "Status.", schema, {}))
    >>> tool.kind, tool.resume
    ('read', 'redo')
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.errors import ToolError
from agentcli.agent.mcp.remote import RemoteTool
from agentcli.agent.tools.registry import (
    DEFAULT_LIMITS,
    PreparedCall,
    Tool,
    ToolContext,
    ToolLimits,
    ToolOutput,
)

if TYPE_CHECKING:
    from agentcli.agent.mcp.hub import McpHub

class McpTool(Tool):
    """Calls one tool of one MCP server through the session's :class:`McpHub`."""

    def __init__(self, hub: McpHub, remote: RemoteTool, limits: ToolLimits = DEFAULT_LIMITS):
        super().__init__(limits)
        self.hub = hub
        self.remote = remote
        self.name = remote.exposed
        self.server = remote.server
        self.kind = "read" if remote.read_only else "external"
        self.mutates = not remote.read_only
        self.resume = "redo" if remote.read_only or remote.idempotent else "interrupt"
        self._validator: Any = None

    def schema(self) -> dict[str, Any]:
        """The server's description and input schema, under the exposed name."""
        parameters = dict(self.remote.input_schema or {})
        parameters.setdefault("type", "object")
        parameters.setdefault("properties", {})
        described = self.remote.description or f"The {self.remote.name} tool of MCP server {self.server}."
        return {"type": "function", "function": {"name": self.name, "description": described,
                                                 "parameters": parameters}}

    def check(self, args: dict[str, Any]) -> dict[str, Any]:
        """The arguments if they fit the server's schema (``null`` left out where it does not
        fit: models send it for "not given"); else ToolError naming what does not fit."""
        error = self._first_error(args)
        if error is None:
            return args
        given = {key: value for key, value in args.items() if value is not None}
        if len(given) < len(args) and self._first_error(given) is None:
            return given
        where = "/".join(str(part) for part in error.absolute_path)
        at = f" (at {where})" if where else ""
        raise ToolError(f"{self.name}: the arguments do not fit the tool's schema: {error.message}{at}. "
                        f"Its parameters: {json.dumps(self.remote.input_schema, ensure_ascii=False)[:1500]}")

    def _first_error(self, args: dict[str, Any]) -> Any:
        from jsonschema.exceptions import best_match

        if self._validator is None:
            self._validator = _validator(self.remote.input_schema)
        if self._validator is False:  # the server's schema is not a schema: the server checks
            return None
        return best_match(self._validator.iter_errors(args))

    def prepare(self, args: dict[str, Any], ctx: ToolContext) -> PreparedCall:
        """A call of the remote tool; its arguments are shown whole when it is asked about."""
        shown = json.dumps(args, ensure_ascii=False)
        summary = f"{self.server}: {self.remote.name} {shown if len(shown) <= 120 else shown[:119] + '…'}"
        remote = self.remote

        def act(token: CancelToken) -> ToolOutput:
            return self.hub.call(remote, args, token, max_chars=self.limits.read_char_limit)

        call = self.call(args, summary, act)
        call.details = json.dumps(args, ensure_ascii=False, indent=2)
        return call


def _validator(schema: dict[str, Any]) -> Any:
    """A jsonschema validator for ``schema`` (its ``$schema`` draft, else 2020-12), or False."""
    from jsonschema import exceptions, validators

    try:
        cls = validators.validator_for(schema, default=validators.Draft202012Validator)
        cls.check_schema(schema)
    except (exceptions.SchemaError, exceptions.UnknownType, TypeError, KeyError):
        return False
    return cls(schema)
