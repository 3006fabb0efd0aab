"""The ``mcp_tools`` table: the tool list each MCP server gave the session, and its changes.

When a session starts its servers, each server's list (name, description, input schema and
annotations of every tool) is compared with the last one recorded for that server. The
same list only moves ``last_seen_at``; a different one is a new row, with what changed
(``added``, ``removed``, ``changed`` tool names), so a server that changed its tools between
two runs of a session is noticed and can be said. The list itself is a blob (JSON).

Example:
    >>> change = session.mcp_tools.record("git", [{"name": "git_status", ...}])
    >>> change.added if change else None
    ['git_status']
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from agentcli.session.records import now_iso
from agentcli.store.blobs import BlobStore
from agentcli.store.db import Db


@dataclass
class ToolListChange:
    """How a server's tools differ from the list it gave this session before."""

    server: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # same name, other schema, description or annotations

    def describe(self) -> str:
        """One line for people, e.g. ``added a, b; removed c``."""
        parts = [f"{what} {', '.join(names)}" for what, names in
                 (("added", self.added), ("removed", self.removed), ("changed", self.changed)) if names]
        return "; ".join(parts)


@dataclass
class ToolListRecord:
    """One row of ``mcp_tools``."""

    id: int
    server: str
    tools_hash: str
    tool_count: int
    changes: dict[str, list[str]] | None
    first_seen_at: str
    last_seen_at: str


class McpToolLists:
    """Rows of ``mcp_tools``; the lists themselves live in ``blobs``."""

    def __init__(self, db: Db, blobs: BlobStore):
        self._db = db
        self._blobs = blobs

    def record(self, server: str, tools: list[dict[str, Any]]) -> ToolListChange | None:
        """Note the list ``server`` gives now; what changed since its previous list in this
        session (None when it is the same, or the first)."""
        data = json.dumps(sorted(tools, key=lambda t: t["name"]), sort_keys=True, ensure_ascii=False).encode()
        with self._db.atomic():
            previous = self.latest(server)
            digest = self._blobs.put(data)
            now = now_iso()
            if previous is not None and previous.tools_hash == digest:
                self._db.execute("UPDATE mcp_tools SET last_seen_at = ? WHERE id = ?", [now, previous.id])
                return None
            change = _difference(server, self.tools(previous), tools) if previous is not None else None
            changes = json.dumps({"added": change.added, "removed": change.removed,
                                  "changed": change.changed}) if change else None
            self._db.execute(
                "INSERT INTO mcp_tools (server, tools_hash, tool_count, changes, first_seen_at, "
                "last_seen_at) VALUES (?, ?, ?, ?, ?, ?)", [server, digest, len(tools), changes, now, now])
        return change

    def latest(self, server: str) -> ToolListRecord | None:
        """The newest list recorded for ``server``."""
        rows = list(self._db.query("SELECT * FROM mcp_tools WHERE server = ? ORDER BY id DESC LIMIT 1",
                                   [server]))
        return _record(rows[0]) if rows else None

    def all(self) -> list[ToolListRecord]:
        """Every list recorded, oldest first."""
        return [_record(row) for row in self._db.query("SELECT * FROM mcp_tools ORDER BY id")]

    def tools(self, record: ToolListRecord | None) -> list[dict[str, Any]]:
        """The tools of a recorded list."""
        return json.loads(self._blobs.get(record.tools_hash)) if record is not None else []


def _record(row: dict[str, Any]) -> ToolListRecord:
    return ToolListRecord(**{**row, "changes": json.loads(row["changes"]) if row["changes"] else None})


def _difference(server: str, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> ToolListChange:
    old = {tool["name"]: tool for tool in before}
    new = {tool["name"]: tool for tool in after}
    return ToolListChange(server, added=sorted(set(new) - set(old)), removed=sorted(set(old) - set(new)),
                          changed=sorted(name for name in set(old) & set(new) if old[name] != new[name]))
