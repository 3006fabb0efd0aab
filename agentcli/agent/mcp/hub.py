"""The MCP servers of one session: started together, called from any thread, stopped together.

The SDK is asynchronous, agentcli's agents are threads: the hub runs one asyncio event loop
on a thread of its own and every call goes into it (``run_coroutine_threadsafe``); the
calling thread waits, watching its cancel token (a cancelled call is cancelled in the loop,
and the SDK tells the server). Each server is kept by one task that enters the SDK's
``Client`` (stdio or streamable HTTP), lists the tools and then waits for the end, so the
client is entered and left in the same task as anyio requires.

Lifecycle:

- :meth:`McpHub.start` starts every server at once and waits for each up to its start
  timeout (``startup_timeout_sec``); one that fails is reported, the others go on.
- A stdio server runs under ``guard.py`` in a process group of its own, its stderr
  appended to ``.agentcli/mcp/NAME.log``; the guard ends the group when agentcli dies,
  even by SIGKILL. Its environment is agentcli's less the secret-looking variables (the
  shell's policy), plus what its config names.
- A server whose connection ends (it exited) is noticed at once; the next call to it
  starts it again, once per session. A call it was answering when it died is an error
  result saying the call may have happened. After that one restart its tools answer with
  an error result.
- :meth:`McpHub.close` ends every server (stdin closed, then the group killed, as the SDK
  does) and the loop.

Example:
    >>> hub = McpHub([server], workspace_root=root, log_dir=root / ".agentcli" / "mcp", base_env=env)
    >>> hub.start()
    >>> [tool.exposed for tool in hub.states()[0].tools]
    ['time__get_current_time', 'time__convert_time']
    >>> hub.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import sys
import threading
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from agentcli.agent.cancel import NEVER, CancelToken
from agentcli.agent.mcp.config import ServerConfig, ToolOverride, default_cwd, expand
from agentcli.agent.mcp.remote import RemoteTool, exposed_name
from agentcli.agent.mcp.results import render_result
from agentcli.agent.mcp.transport import http_transport, last_line, list_tools, quiet_sdk_logs, watched
from agentcli.agent.tools.registry import ToolOutput

GUARD = Path(__file__).with_name("guard.py")
GRACE = 2.0  # seconds between SIGTERM and SIGKILL when the guard stops a server
LOG_BYTES = 1_000_000  # a server log past this is moved to NAME.log.1 when the server starts
_WAKE_SECONDS = 0.05  # how often a waiting caller looks at its cancel token
_CLOSE_SECONDS = 15.0
_GUARD_SAYS = "agentcli guard: "  # how guard.py's own lines in a server's log start


@dataclass
class ServerState:
    """What is known of one server: for ``mcp list``, ``doctor`` and ``/mcp``."""

    name: str
    status: str  # starting, running, failed, stopped (it exited), closed, blocked
    config: ServerConfig
    tools: list[RemoteTool] = field(default_factory=list)
    error: str | None = None
    restarts: int = 0
    log: Path | None = None
    info: str | None = None  # the server's name and version, as it says


class _Server(ServerState):
    """A server's state plus what the loop keeps of it."""

    def __init__(self, config: ServerConfig, log: Path | None):
        super().__init__(config.name, "starting", config, log=log)
        self.client: Any = None
        self.task: asyncio.Task[None] | None = None
        self.stop: asyncio.Event | None = None
        self.lock: asyncio.Lock | None = None


class McpHub:
    """Owns the servers of one session (or of one ``agentcli mcp list``)."""

    def __init__(self, servers: list[ServerConfig], *, workspace_root: Path, log_dir: Path | None,
                 base_env: Mapping[str, str], environ: Mapping[str, str] | None = None):
        self.workspace_root = workspace_root
        self.log_dir = log_dir
        self.base_env = dict(base_env)
        self.environ = dict(os.environ if environ is None else environ)
        self._servers = {s.name: _Server(s, log_dir / f"{s.name}.log" if log_dir else None) for s in servers}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # -- the caller's side ----------------------------------------------------------------
    def start(self) -> None:
        """Start every server at once; returns when each is running or has failed."""
        if not self._servers or self._loop is not None:
            return
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="agentcli-mcp", daemon=True)
        self._thread.start()
        self._submit(self._start_all()).result()

    def states(self) -> list[ServerState]:
        """Every server's state, in declaration order."""
        return list(self._servers.values())

    def call(self, remote: RemoteTool, arguments: dict[str, Any], cancel: CancelToken = NEVER, *,
             max_chars: int = 100_000) -> ToolOutput:
        """Call one tool and wait for its result; raises ``Cancelled`` when ``cancel`` is set."""
        if self._loop is None or self._closed:
            return _failure(remote, f"the MCP servers of this session are closed: {remote.exposed} "
                                    "cannot be called")
        future = self._submit(self._call(remote, arguments, max_chars))
        while True:
            try:
                return future.result(timeout=_WAKE_SECONDS)
            except concurrent.futures.TimeoutError:
                if cancel.cancelled:
                    future.cancel()  # the loop cancels the request; the SDK tells the server
                    cancel.check()

    def close(self) -> None:
        """Stop every server and the loop (idempotent)."""
        if self._loop is None or self._closed:
            self._closed = True
            return
        self._closed = True
        try:
            self._submit(self._close_all()).result(timeout=_CLOSE_SECONDS + 5)
        except (concurrent.futures.TimeoutError, RuntimeError):
            pass
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(5)

    def _submit(self, work: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    # -- the loop's side --------------------------------------------------------------------
    async def _start_all(self) -> None:
        quiet_sdk_logs()
        await asyncio.gather(*(self._start(server) for server in self._servers.values()))

    async def _start(self, server: _Server) -> None:
        """Start (or start again) one server and wait until it runs, fails or times out."""
        server.status, server.error, server.client = "starting", None, None
        server.lock = server.lock or asyncio.Lock()
        missing = self._missing_command(server.config)
        if missing:
            server.status, server.error = "failed", missing
            return
        server.stop = asyncio.Event()
        ready = asyncio.Event()
        server.task = asyncio.get_running_loop().create_task(self._keep(server, ready))
        timeout = server.config.startup_timeout
        try:
            await asyncio.wait_for(ready.wait(), timeout)
        except asyncio.TimeoutError:
            server.status = "failed"
            server.error = f"did not start within {timeout:g} s (startup_timeout_sec)"
            await self._end(server)

    async def _keep(self, server: _Server, ready: asyncio.Event) -> None:
        """Hold the server's client from its start to its end (one task, as anyio wants)."""
        from mcp import Client
        from mcp_types import Implementation

        from agentcli import __version__

        log = self._open_log(server)
        try:
            transport = watched(self._transport(server, log), lambda: self._lost(server))
            async with Client(transport, client_info=Implementation(name="agentcli", version=__version__),
                              cache=None) as client:
                listed = await list_tools(client)
                info = client.server_info
                server.info = f"{info.name} {info.version}".strip() if info else None
                server.tools = self._remote_tools(server, listed)
                server.client = client
                server.status = "running"
                ready.set()
                await server.stop.wait()  # type: ignore[union-attr]
        except Exception as exc:  # a server that cannot start is reported, never fatal
            if server.status == "starting":
                server.status, server.error = "failed", self._reason(server, exc)
        finally:
            server.client = None
            if server.status in ("starting", "running"):
                server.status = "stopped" if server.status == "running" else "failed"
            if server.status in ("stopped", "failed") and server.error is None:
                server.error = self._reason(server, None)
            ready.set()
            if log is not None:
                log.close()

    def _lost(self, server: _Server) -> None:
        """The connection ended: the server exited (or we are closing it)."""
        if server.status == "running":
            server.status = "stopped"  # why is read from its log once it is reaped (_keep)
            if server.stop is not None:
                server.stop.set()  # leave the client, so the dead process is reaped

    async def _end(self, server: _Server) -> None:
        """Let the keeper task finish (cancelled when it is still starting), boundedly."""
        task = server.task
        if task is None or task.done():
            return
        if server.stop is not None:
            server.stop.set()
        if server.status != "running" and server.client is None:
            task.cancel()
        done, _ = await asyncio.wait({task}, timeout=_CLOSE_SECONDS)
        if not done:
            task.cancel()
            await asyncio.wait({task}, timeout=5)

    async def _close_all(self) -> None:
        for server in self._servers.values():
            server.status = "closed" if server.status in ("running", "starting") else server.status
        await asyncio.gather(*(self._end(server) for server in self._servers.values()))

    async def _call(self, remote: RemoteTool, arguments: dict[str, Any], max_chars: int) -> ToolOutput:
        from mcp import MCPError
        from mcp_types.jsonrpc import CONNECTION_CLOSED, REQUEST_TIMEOUT

        server = self._servers.get(remote.server)
        if server is None:
            return _failure(remote, f"MCP server {remote.server} is not part of this session")
        restarted = await self._ensure_running(server)
        if server.status != "running" or server.client is None:
            return _failure(remote, restarted or f"MCP server {server.name} is {server.status}")
        timeout = server.config.tool_timeout
        try:
            result = await server.client.call_tool(remote.name, arguments, read_timeout_seconds=timeout)
        except MCPError as err:
            if err.code == CONNECTION_CLOSED or server.status != "running":
                return _failure(remote, f"MCP server {server.name} stopped during this call, so it may or "
                                        f"may not have happened; {self._restart_note(server)}")
            if err.code == REQUEST_TIMEOUT:
                return _failure(remote, f"{remote.name} did not answer within {timeout:g} s "
                                        f"(tool_timeout_sec of {server.name}); it may still have happened")
            return _failure(remote, f"MCP server {server.name} refused the call: {err}")
        except Exception as exc:  # a malformed answer, a transport error: the model's error result
            return _failure(remote, f"the call to MCP server {server.name} failed: "
                                    f"{type(exc).__name__}: {exc}")
        text, is_error = render_result(result, max_chars)
        if restarted:
            text = f"(MCP server {server.name} had stopped and was started again)\n{text}"
        return ToolOutput(text, is_error=is_error, data={"tool": remote.name})

    async def _ensure_running(self, server: _Server) -> str | None:
        """Start a server that stopped, once per session; returns what a caller should be told."""
        assert server.lock is not None
        async with server.lock:
            if server.status in ("running", "closed"):
                return None
            await self._end(server)  # reaped: its log says why it stopped
            if server.restarts >= 1:
                return (f"MCP server {server.name} is {server.status} ({server.error}) and was already "
                        "restarted once: its tools are not available for the rest of this session")
            server.restarts += 1
            await self._start(server)
            if server.status != "running":
                return f"MCP server {server.name} stopped and could not be started again: {server.error}"
            return "restarted"

    def _restart_note(self, server: _Server) -> str:
        if server.restarts >= 1:
            return ("it was already restarted once, so its tools are not available for the rest of "
                    "this session")
        return "it is started again for the next call"

    # -- building a server --------------------------------------------------------------------
    def _transport(self, server: _Server, log: TextIO | None) -> Any:
        config = server.config
        if config.url:
            return http_transport(expand(config.url, self.environ), config.request_headers(self.environ))
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client

        command = [expand(part, self.environ) for part in (config.command or "", *config.args)]
        guard = ["-I", "-S", str(GUARD), str(os.getpid()), str(GRACE), "--"]
        params = StdioServerParameters(
            command=sys.executable, args=[*guard, *command],
            env=config.environment(self.base_env, self.environ),
            cwd=str(default_cwd(config, self.workspace_root)))
        return stdio_client(params, errlog=log or sys.stderr)

    def _missing_command(self, config: ServerConfig) -> str | None:
        """Why a stdio server's command cannot run (not found), before trying."""
        if config.url:
            return None
        command = expand(config.command or "", self.environ)
        cwd = default_cwd(config, self.workspace_root)
        if not cwd.is_dir():
            return f"its cwd {cwd} is not a folder"
        path = config.environment(self.base_env, self.environ).get("PATH", os.defpath)
        if os.sep in command:  # a path: relative to where the server starts
            found = shutil.which(str(cwd / command))
        else:
            found = shutil.which(command, path=path)
        return None if found else f"command {command!r} not found (on the PATH it gets)"

    def _remote_tools(self, server: _Server, listed: list[Any]) -> list[RemoteTool]:
        taken = {tool.exposed for other in self._servers.values() if other is not server
                 for tool in other.tools}
        tools = []
        for tool in listed:
            hints = tool.annotations
            annotations = hints.model_dump(by_alias=True, exclude_none=True) if hints else {}
            remote = RemoteTool(server.name, tool.name, exposed_name(server.name, tool.name, taken),
                                tool.description or "", dict(tool.input_schema or {}), annotations,
                                server.config.tools.get(tool.name) or _NO_OVERRIDE)
            taken.add(remote.exposed)
            tools.append(remote)
        return tools

    def _open_log(self, server: _Server) -> TextIO | None:
        if server.log is None or server.config.url:
            return None
        from agentcli.session.records import now_iso

        try:
            server.log.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            if server.log.is_file() and server.log.stat().st_size > LOG_BYTES:
                server.log.replace(server.log.with_name(server.log.name + ".1"))
            log = open(server.log, "a", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115
        except OSError:
            return None
        log.write(f"--- {now_iso()} agentcli (pid {os.getpid()}) starts {server.name}: "
                  f"{server.config.target}\n")
        return log

    def _reason(self, server: _Server, exc: BaseException | None) -> str:
        """Why a server failed or stopped, for people: the exception, or its log's last line."""
        while exc is not None and getattr(exc, "exceptions", None):
            exc = exc.exceptions[0]  # type: ignore[attr-defined]
        last = last_line(server.log) if server.log else ""
        where = f" (log: {server.log})" if server.log else ""
        if last.startswith(_GUARD_SAYS):
            said = last[len(_GUARD_SAYS):]
        else:
            said = "the server exited" + (f"; its log ends with: {last}" if last else "")
        if exc is None or "Connection closed" in str(exc):
            return f"{said}{where}"
        return f"{type(exc).__name__}: {exc}{where}"


_NO_OVERRIDE = ToolOverride()


def _failure(remote: RemoteTool, text: str) -> ToolOutput:
    return ToolOutput(f"error: {text}", is_error=True, data={"tool": remote.name})
