"""A server's tool as the hub lists it, and the name the model calls it by.

The hub makes these from a server's ``tools/list``; :class:`~agentcli.agent.mcp.tool.McpTool`
offers one to the model. Kept apart from both so that each may name it.

Example:
    >>> exposed_name("git", "git_status", set())
    'git__git_status'
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from agentcli.agent.mcp.config import ToolOverride

NAME_LIMIT = 64  # OpenAI's limit on a function name
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class RemoteTool:
    """A tool as a server listed it, with what the config says of it."""

    server: str
    name: str  # the server's own name for it
    exposed: str  # what the model calls it: NAME__tool
    description: str
    input_schema: dict[str, Any]
    annotations: dict[str, Any] = field(default_factory=dict)  # the server's: readOnlyHint, ...
    override: ToolOverride = ToolOverride()

    @property
    def read_only(self) -> bool:
        """Treated as a read: the config's word, else the server's ``readOnlyHint``."""
        if self.override.read_only is not None:
            return self.override.read_only
        return self.annotations.get("readOnlyHint") is True

    @property
    def idempotent(self) -> bool:
        """Safe to send again: the config's word, else the server's ``idempotentHint``."""
        if self.override.idempotent is not None:
            return self.override.idempotent
        return self.annotations.get("idempotentHint") is True

    def listing(self) -> dict[str, Any]:
        """The tool as recorded in the session (``mcp_tools``) and compared between runs."""
        return {"name": self.name, "description": self.description, "inputSchema": self.input_schema,
                "annotations": self.annotations}


def exposed_name(server: str, tool: str, taken: set[str]) -> str:
    """``server__tool`` as a valid, unused function name (cut with a short hash past 64)."""
    name = _UNSAFE.sub("_", f"{server}__{tool}")
    if len(name) > NAME_LIMIT or name in taken:
        digest = hashlib.sha256(f"{server}/{tool}".encode()).hexdigest()[:8]
        name = f"{name[:NAME_LIMIT - 9]}_{digest}"
    return name
