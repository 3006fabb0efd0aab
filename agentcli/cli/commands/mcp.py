"""``mcp list``: the MCP servers this workspace would start, and what each offers.

Every declared server is shown with where it was declared and its status: it is started
(as a session would start it: same environment, same timeouts), its tools listed with the
annotations the server gives and what agentcli makes of them (how a call is approved,
whether resume sends it again), then stopped. A server an untrusted workspace declares is
listed, not started. The same lines serve ``/mcp`` in the terminal (the session's own
servers) and the MCP part of ``doctor``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from agentcli.cli.options import DebugOpt, JsonOpt, WorkspaceOpt

if TYPE_CHECKING:
    from agentcli.agent.config import Settings
    from agentcli.agent.mcp.hub import ServerState
    from agentcli.agent.mcp.remote import RemoteTool
    from agentcli.session.session import Session

McpConfigOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--mcp-config", help="A file of more MCP servers (.json as .mcp.json, or .toml)."),
]
HINTS = (("readOnlyHint", "read-only"), ("idempotentHint", "idempotent"), ("destructiveHint", "destructive"),
         ("openWorldHint", "open-world"))


def list_servers(json_out: JsonOpt = False, mcp_config: McpConfigOpt = None, workspace: WorkspaceOpt = None,
                 debug: DebugOpt = False) -> int:
    """MCP servers: where each is declared, whether it starts, its tools and their annotations."""
    from agentcli.cli.options import workspace_root

    root = workspace_root(workspace)
    states, trusted = examine(root, mcp_config)
    if json_out:
        import json

        document = {"workspace": str(root), "trusted": trusted, "servers": [server_json(s) for s in states]}
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    else:
        lines = describe(states) or [
            "no MCP servers are declared: add [mcp_servers.NAME] to "
            f"{_user_config()} (command = ..., args = [...]), or a .mcp.json here"]
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


def examine(root: Path, mcp_config: str | None) -> tuple[list[ServerState], bool]:
    """Start every server declared for ``root`` as a session would, note each one's state,
    stop them; and whether the workspace is trusted. Raises UsageError for a bad config."""
    import copy
    import os

    from agentcli.agent.config import resolve_settings
    from agentcli.agent.mcp import server_states
    from agentcli.agent.mcp.config import load_servers
    from agentcli.agent.secrets import ShellEnvPolicy, shell_environment
    from agentcli.cli.options import STATE_DIR

    settings = resolve_settings(root, {"mcp_config": mcp_config})
    servers = load_servers(root, settings.mcp_config, trusted=settings.trusted)
    startable = [server for server in servers if not server.blocked]
    hub, seen = None, None
    if startable:
        from agentcli.agent.mcp.hub import McpHub
        from agentcli.session.directory import ensure_state_dir

        ensure_state_dir(root / STATE_DIR)
        try:
            policy = ShellEnvPolicy.from_setting(settings.shell_env)
        except ValueError as err:
            from agentcli.errors import UsageError

            raise UsageError(str(err)) from None
        hub = McpHub(startable, workspace_root=root, log_dir=root / STATE_DIR / "mcp",
                     base_env=shell_environment(os.environ, policy))
        try:
            hub.start()
            seen = [copy.copy(state) for state in server_states(servers, hub)]  # as they ran
        finally:
            hub.close()
    return seen or server_states(servers, hub), settings.trusted


def session_lines(session: Session, root: Path, settings: Settings) -> list[str]:
    """``/mcp``: the servers a live session declared, as its hub sees them now."""
    from agentcli.agent.mcp import hub_for, server_states
    from agentcli.agent.mcp.config import load_servers
    from agentcli.errors import UsageError

    try:
        servers = load_servers(root, settings.mcp_config, trusted=settings.trusted)
    except UsageError as err:
        return [str(err)]
    return describe(server_states(servers, hub_for(session))) or ["no MCP servers in this session"]


def describe(states: list[ServerState]) -> list[str]:
    """The servers for people: a line each, then a line per tool."""
    lines = []
    for state in states:
        config = state.config
        head = f"{state.name}  {state.status}"
        if state.status in ("running", "closed", "stopped"):
            head += f"  {len(state.tools)} tool{'s' if len(state.tools) != 1 else ''}"
        head += f"  {config.transport}: {config.target}  (from {config.source})"
        lines.append(head)
        if state.error:
            lines.append(f"  {state.error}")
        if state.restarts:
            lines.append(f"  restarted {state.restarts} time{'s' if state.restarts > 1 else ''}")
        for tool in state.tools:
            lines.append(f"  {tool.exposed}  [{_hints(tool)}]  {_treatment(tool, config.offers(tool.name))}")
    return lines


def server_json(state: ServerState) -> dict[str, Any]:
    """One server as JSON (header values and environment values are never shown)."""
    config = state.config
    return {
        "name": state.name, "status": state.status, "error": state.error, "source": config.source,
        "transport": config.transport, "target": config.target, "server": state.info,
        "restarts": state.restarts, "log": str(state.log) if state.log else None,
        "tools": [_tool_json(tool, config.offers(tool.name)) for tool in state.tools],
    }


def _tool_json(tool: RemoteTool, offered: bool) -> dict[str, Any]:
    overrides = {key: value for key, value in vars(tool.override).items() if value is not None}
    return {"name": tool.name, "exposed": tool.exposed, "description": tool.description,
            "annotations": tool.annotations, "overrides": overrides, "read_only": tool.read_only,
            "idempotent": tool.idempotent, "offered": offered,
            "approval": "read" if tool.read_only else "asked", "resumed": "re-sent"
            if tool.read_only or tool.idempotent else "interrupted"}


def _hints(tool: RemoteTool) -> str:
    said = [word for key, word in HINTS if tool.annotations.get(key) is True]
    for key, value in vars(tool.override).items():
        if value is not None:
            said.append(f"{key} = {'true' if value else 'false'} (config)")
    return ", ".join(said) or "no annotations"


def _treatment(tool: RemoteTool, offered: bool) -> str:
    if not offered:
        return "not offered (enabled_tools / disabled_tools)"
    if tool.read_only:
        return "a read: never asked, offered to scouts, redone by resume"
    again = "sends it again" if tool.idempotent else "never sends it again"
    return f"asked like a shell command (full-auto allows it); resume {again}"


def _user_config() -> Path:
    from agentcli.agent.config import user_config_path

    return user_config_path()


def register(app: typer.Typer) -> None:
    """Add the ``mcp`` group (``mcp list``) to ``app``."""
    from agentcli.cli.lean import LeanCommand, LeanGroup

    group = typer.Typer(cls=LeanGroup, name="mcp", no_args_is_help=True, rich_markup_mode=None,
                        help="MCP servers: the tools of Model Context Protocol servers.")
    group.command("list", cls=LeanCommand)(list_servers)
    app.add_typer(group, name="mcp")
