"""Opening the sessions an editor asks for, by the rules every client shares.

``session/new`` makes a session as ``agentcli new`` run in the editor's folder (``cwd``)
does: the workspace root found from there (its git work tree, else the folder itself),
the sessions folder of that root (or ``--sessions-dir``), the settings resolved flags >
environment > config files > defaults (the flags of ``agentcli acp`` itself), trust as
for any run, full-auto refused without a sandbox, the ``AGENTS.md`` files from the root
down to ``cwd``. ``session/load`` reopens a file of that workspace by its id as
``agentcli resume`` does (``cli/launch.py``'s ``reopen``): as its single writer, or not
at all (``SessionBusyError``). Either way the engine also starts the editor's own MCP
servers (``mcpServers``: stdio and streamable HTTP).

Everything here blocks (SQLite, MCP servers starting): the server runs it on a worker
thread, so other sessions keep being served.

Example:
    >>> opened = open_new(options, Path("/repo"), [], sink)
    >>> opened.engine.submit(SubmitPrompt("fix the tests"))
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcli.errors import SessionNotFoundError, UsageError

if TYPE_CHECKING:
    from agentcli.agent.engine.engine import Engine
    from agentcli.agent.events import EventSink
    from agentcli.agent.mcp.config import ServerConfig
    from agentcli.cli.options import CliContext, RunOptions
    from agentcli.session.directory import SessionEntry
    from agentcli.session.session import Session

SOURCE = "editor"
"""The ``source`` of a prompt an editor sent (``prompts.source``)."""
CLIENT_SERVERS = "the editor (ACP mcpServers)"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass(frozen=True)
class AcpOptions:
    """What ``agentcli acp`` was started with: settings flags (None: not given) and the
    sessions folder (None: each workspace's own)."""

    flags: dict[str, Any] = field(default_factory=dict)
    sessions_dir: Path | None = None

    def run_options(self) -> RunOptions:
        """The flags as a run of ``new``/``resume`` takes them."""
        from agentcli.cli.options import RunOptions

        return RunOptions(None, print_mode=False, json=False, flags=dict(self.flags))


@dataclass
class Opened:
    """A session driven by this process: its place, file and engine; ``created`` by it."""

    ctx: CliContext
    session: Session
    engine: Engine
    created: bool


def context_for(options: AcpOptions, cwd: str) -> CliContext:
    """Where a session of the editor's folder ``cwd`` lives (one clear error if it is no folder)."""
    from agentcli.cli.options import make_context, require_utf8

    folder = Path(cwd)
    if not folder.is_absolute():
        raise UsageError(f"cwd must be an absolute path, not {cwd!r}")
    if not folder.is_dir():
        raise UsageError(f"cwd {cwd} is not a folder")
    ctx = make_context(None, options.sessions_dir, start=folder)
    require_utf8(str(ctx.workspace_root), "the workspace path", "rename the folder")
    return ctx


def open_new(options: AcpOptions, cwd: str, servers: Sequence[ServerConfig], sink: EventSink) -> Opened:
    """A new session file in the workspace of ``cwd``, and its engine (see the module docstring)."""
    from agentcli.agent.engine.launch import create_session
    from agentcli.agent.sandbox.startup import require_sandbox
    from agentcli.cli.launch import settings_for

    ctx = context_for(options, cwd)
    settings = settings_for(ctx, options.run_options())
    require_sandbox(settings)  # full-auto without a sandbox: refused before a file is made
    session = create_session(ctx.place, settings, None, SOURCE, cwd=Path(cwd))
    try:
        engine = _engine(ctx, session, settings, servers, sink, resumed=False)
    except BaseException:
        session.close()
        ctx.sessions.remove(session.path)
        raise
    return Opened(ctx, session, engine, created=True)


def open_existing(options: AcpOptions, cwd: str, session_id: str, servers: Sequence[ServerConfig],
                  sink: EventSink) -> Opened:
    """Session ``session_id`` of the workspace of ``cwd``, opened as ``resume`` opens it.

    Raises:
        SessionNotFoundError: no session of that id in the workspace's sessions folder.
        SessionBusyError: another process drives it.
    """
    from agentcli.cli.launch import reopen
    from agentcli.store.durable import damage_as_error
    from agentcli.store.ids import looks_like_id

    ctx = context_for(options, cwd)
    path = ctx.sessions.path / f"{session_id}.sqlite"
    if not looks_like_id(session_id) or not path.is_file():
        raise SessionNotFoundError(f"no session {session_id!r} in {ctx.sessions.path} (the sessions of "
                                   f"{ctx.workspace_root}; agentcli list shows them)")
    with damage_as_error(path):
        ctx, session, settings = reopen(ctx, path, options.run_options(), explicit_workspace=False)
    try:
        engine = _engine(ctx, session, settings, servers, sink, resumed=True)
    except BaseException:
        session.close()
        raise
    return Opened(ctx, session, engine, created=False)


def _engine(ctx: CliContext, session: Session, settings: Any, servers: Sequence[ServerConfig],
            sink: EventSink, *, resumed: bool) -> Engine:
    from agentcli.agent.engine.engine import Engine

    engine = Engine(session, settings, ctx.place, sink=sink, interactive=True, live_output=True,
                    mcp_servers=servers)
    engine.start(resumed=resumed)
    return engine


def client_servers(servers: Sequence[Any]) -> list[ServerConfig]:
    """The editor's MCP servers as agentcli declares them: stdio (command, args, env) and
    streamable HTTP (url, headers). A name is made safe for tool names (``NAME__tool``).

    Raises:
        UsageError: an SSE or ACP server (agentcli announces neither).
    """
    from agentcli.agent.mcp.config import ServerConfig

    declared = []
    for server in servers:
        name = _UNSAFE.sub("_", str(server.name)).strip("_") or "server"
        kind = getattr(server, "type", None)
        if kind is None and hasattr(server, "command"):
            declared.append(ServerConfig(name, CLIENT_SERVERS, command=server.command, args=list(server.args),
                                         env={item.name: item.value for item in server.env}))
        elif kind == "http":
            declared.append(ServerConfig(name, CLIENT_SERVERS, url=server.url,
                                         headers={item.name: item.value for item in server.headers}))
        else:
            raise UsageError(f"MCP server {server.name!r}: agentcli takes stdio and http servers, not {kind} "
                             "(initialize announces mcpCapabilities.http only)")
    return declared


def workspace_sessions(options: AcpOptions, cwd: str | None) -> tuple[Path, list[SessionEntry]]:
    """The workspace root of ``cwd`` (default: this process's folder) and its sessions."""
    ctx = context_for(options, cwd or str(Path.cwd()))
    if not ctx.sessions.path.is_dir():
        return ctx.workspace_root, []
    return ctx.workspace_root, ctx.sessions.entries(ctx.workspace_root)
