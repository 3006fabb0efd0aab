"""MCP tools (SPEC §2c): the tools of Model Context Protocol servers, journaled like agentcli's own.

- ``config``: where servers are declared (``[mcp_servers.NAME]``, ``.mcp.json``,
  ``--mcp-config``) and the trust rule for a workspace's own declarations;
- ``hub``: the servers of a session, on one event-loop thread: started in parallel with a
  timeout, restarted once, stopped with the session; ``guard.py`` makes each die with
  agentcli even when it is killed;
- ``tool``: one server tool as a :class:`~agentcli.agent.tools.registry.Tool`
  (``NAME__tool``, arguments checked with ``jsonschema``, kind and resume policy from its
  annotations); ``results``: a result as text.

:func:`add_mcp_tools` is the one call the composition root makes. Nothing here imports the
``mcp`` SDK or ``jsonschema`` until a server is configured (a run without MCP servers stays
as lean as before).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentcli.agent.config import Settings
    from agentcli.agent.mcp.config import ServerConfig
    from agentcli.agent.mcp.hub import McpHub, ServerState
    from agentcli.agent.tools.registry import ToolRegistry
    from agentcli.session.session import Session

_HUBS: weakref.WeakKeyDictionary[Session, McpHub] = weakref.WeakKeyDictionary()


def add_mcp_tools(session: Session, toolbox: ToolRegistry, settings: Settings, workspace_root: Path,
                  state_dir: Path, *, warn: Callable[[str], None],
                  extra: Sequence[ServerConfig] = ()) -> McpHub | None:
    """Start the session's MCP servers and offer their tools; the hub closes with the session.

    ``settings`` say whether the workspace is trusted and name the ``--mcp-config`` file;
    ``extra`` are servers the client itself names (an editor's ``mcpServers``), declared
    after every file (one of the same name replaces the file's); servers log to
    ``state_dir/mcp/NAME.log``. Each server's tool list is recorded in the
    session (``mcp_tools``); one that changed since the session's previous run is said
    through ``warn``, like a server that did not start or a workspace's declaration that is
    not trusted. Returns the hub (None when no server is to start).
    """
    from agentcli.agent.mcp.config import load_servers

    servers = merged(load_servers(workspace_root, settings.mcp_config, trusted=settings.trusted), extra)
    for server in servers:
        if server.blocked and server.enabled:
            warn(f"MCP server {server.name} not started: {server.blocked}")
    startable = [server for server in servers if not server.blocked]
    if not startable:
        return None
    from agentcli.agent.mcp.hub import McpHub
    from agentcli.agent.mcp.tool import McpTool
    from agentcli.agent.secrets import shell_environment
    from agentcli.session.directory import ensure_state_dir

    ensure_state_dir(state_dir)  # the servers' logs go there, never into git status
    environ = dict(os.environ)
    session.redact_secrets([*session.redactor.secrets, *(s for c in startable for s in c.secrets(environ))])
    hub = McpHub(startable, workspace_root=workspace_root, log_dir=state_dir / "mcp",
                 base_env=toolbox.ctx.shell_env if toolbox.ctx.shell_env is not None
                 else shell_environment(environ), environ=environ)
    session.closing(hub.close)
    _HUBS[session] = hub
    hub.start()
    for state in hub.states():
        if state.status != "running":
            warn(f"MCP server {state.name} did not start: {state.error}")
            continue
        change = session.mcp_tools.record(state.name, [tool.listing() for tool in state.tools])
        if change is not None:
            warn(f"MCP server {state.name} changed its tools since this session last ran: "
                 f"{change.describe()}")
        for tool in state.tools:
            if state.config.offers(tool.name):
                toolbox.register(McpTool(hub, tool, toolbox.ctx.limits))
    return hub


def merged(servers: list[ServerConfig], extra: Sequence[ServerConfig]) -> list[ServerConfig]:
    """``servers`` then ``extra``, a later declaration of a name replacing an earlier one."""
    found = {server.name: server for server in servers}
    for server in extra:
        found.pop(server.name, None)
        found[server.name] = server
    return list(found.values())


def hub_for(session: Session) -> McpHub | None:
    """The MCP servers a session started (None: it started none)."""
    return _HUBS.get(session)


def server_states(servers: list[ServerConfig], hub: McpHub | None) -> list[ServerState]:
    """Every declared server's state: the hub's for those it runs, ``blocked`` (with why) for
    the others, in declaration order."""
    from agentcli.agent.mcp.hub import ServerState

    running = {state.name: state for state in hub.states()} if hub is not None else {}
    return [running.get(server.name)
            or ServerState(server.name, "blocked" if server.blocked else "not started", server,
                           error=server.blocked)
            for server in servers]
