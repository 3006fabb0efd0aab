"""``agentcli acp``: the Agent Client Protocol on stdin/stdout, one engine per session.

An editor starts ``agentcli acp`` and speaks JSON-RPC to it through the maintained SDK
(module ``acp``): :class:`AcpServer` is the SDK's ``Agent``. Each ``session/new`` or
``session/load`` opens a session file with its own engine and writer lock
(``opening.py``, on a worker thread) and keeps it as a :class:`~.live.LiveSession`;
several live side by side, each answered on its own. agentcli's failures are JSON-RPC
errors with the one-line message the CLI would print (the process keeps serving); the
SDK answers malformed params itself (``Invalid params``).

stdout is the protocol's alone: before anything runs, the process keeps its real stdout
for the SDK and points file descriptor 1 at stderr, so a stray ``print`` (or a child that
writes to its inherited stdout) lands in the log, never in the protocol. Logs go to
stderr, or to ``--log-file``. When stdin closes, SIGTERM or SIGHUP arrive, every engine
is closed (a running turn is left interrupted, resumable) before the process ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from acp import PROTOCOL_VERSION, RequestError, run_agent, stdio_streams
from acp.schema import (
    AgentCapabilities,
    Implementation,
    InitializeResponse,
    ListSessionsResponse,
    LoadSessionResponse,
    McpCapabilities,
    NewSessionResponse,
    PromptCapabilities,
    PromptResponse,
    SessionCapabilities,
    SessionInfo,
    SessionListCapabilities,
    SessionMode,
    SessionModeState,
    SetSessionModeResponse,
)

from agentcli.agent.engine.engine import APPROVAL_MODES
from agentcli.cli.acp.commands import is_command, run_command
from agentcli.cli.acp.live import LiveSession
from agentcli.cli.acp.opening import AcpOptions, client_servers, open_existing, open_new, workspace_sessions
from agentcli.cli.acp.prompts import prompt_text
from agentcli.cli.acp.replay import replay
from agentcli.cli.acp.updates import message_chunk
from agentcli.errors import AgentcliError, SessionBusyError, SessionNotFoundError, UsageError

log = logging.getLogger("agentcli.acp")
T = TypeVar("T")
MODES = {
    "ask": "confirm each file edit and shell command",
    "auto-edit": "edits allowed; shell commands asked",
    "full-auto": "everything allowed inside the workspace, in the sandbox",
    "read-only": "reads only: no edits, no commands",
}
# JSON-RPC error codes for agentcli's failures (-32000 to -32099 are the server's own)
NOT_FOUND, BUSY, REFUSED = -32002, -32001, -32602


def request_error(err: AgentcliError) -> RequestError:
    """agentcli's failure as a JSON-RPC error: its one line, and the CLI's exit code."""
    code = NOT_FOUND if isinstance(err, SessionNotFoundError) else BUSY if isinstance(err, SessionBusyError) \
        else REFUSED if isinstance(err, UsageError) else -32603
    return RequestError(code, str(err), {"exit_code": err.exit_code})


async def answering(work: Awaitable[T]) -> T:
    """``work``, with agentcli's failures turned into JSON-RPC errors."""
    try:
        return await work
    except AgentcliError as err:
        raise request_error(err) from None


def modes(current: str) -> SessionModeState:
    """The approval modes, as the session's modes."""
    return SessionModeState(current_mode_id=current, available_modes=[
        SessionMode(id=mode, name=mode, description=MODES[mode]) for mode in APPROVAL_MODES])


class AcpServer:
    """The ``acp.Agent`` of agentcli: sessions by id, each its own engine."""

    def __init__(self, options: AcpOptions):
        self.options = options
        self.client: Any = None
        self.sessions: dict[str, LiveSession] = {}

    def on_connect(self, conn: Any) -> None:
        """The SDK hands over the connection to the editor."""
        self.client = conn

    async def initialize(self, protocol_version: int, client_capabilities: Any = None,
                         client_info: Any = None, **kwargs: Any) -> InitializeResponse:
        """What agentcli speaks: load, text and embedded files, stdio and HTTP MCP servers."""
        from agentcli import __version__

        return InitializeResponse(
            protocol_version=PROTOCOL_VERSION,  # the one it speaks: a client that does not, disconnects
            agent_capabilities=AgentCapabilities(
                load_session=True,
                prompt_capabilities=PromptCapabilities(image=False, audio=False, embedded_context=True),
                mcp_capabilities=McpCapabilities(http=True, sse=False),
                session_capabilities=SessionCapabilities(list=SessionListCapabilities()),
            ),
            agent_info=Implementation(name="agentcli", title="agentcli", version=__version__),
            auth_methods=[],
        )

    async def authenticate(self, method_id: str, **kwargs: Any) -> None:
        """No method to authenticate with: the key comes from the environment (OPENAI_API_KEY)."""
        raise RequestError.invalid_params({"message": "agentcli takes its key from OPENAI_API_KEY"})

    async def new_session(self, cwd: str, mcp_servers: list[Any] | None = None,
                          **kwargs: Any) -> NewSessionResponse:
        """A new session file in the workspace of ``cwd``."""
        servers = await answering(self._servers(mcp_servers))
        opening = self._open(lambda sink: open_new(self.options, cwd, servers, sink), replayed=False)
        return await answering(opening)

    async def load_session(self, cwd: str, session_id: str, mcp_servers: list[Any] | None = None,
                           **kwargs: Any) -> LoadSessionResponse:
        """Reopen session ``session_id``: replay its history, then finish an interrupted turn."""
        live = self.sessions.get(session_id)
        if live is not None:  # open here already (the editor reloads a thread): show it again
            await self._replay(live)
            return LoadSessionResponse(modes=modes(live.engine.settings.approval or "ask"))
        servers = await answering(self._servers(mcp_servers))
        return await answering(self._open(
            lambda sink: open_existing(self.options, cwd, session_id, servers, sink), replayed=True))

    async def list_sessions(self, cwd: str | None = None, cursor: str | None = None,
                            **kwargs: Any) -> ListSessionsResponse:
        """The sessions of the workspace of ``cwd``, newest first (one page: all of them)."""
        root, entries = await answering(asyncio.to_thread(workspace_sessions, self.options, cwd))
        infos = [SessionInfo(session_id=entry.meta.id, cwd=str(root), title=entry.meta.title or None,
                             updated_at=entry.meta.updated_at)
                 for entry in entries if entry.meta is not None]
        infos.sort(key=lambda info: info.updated_at or "", reverse=True)
        return ListSessionsResponse(sessions=infos)

    async def set_session_mode(self, session_id: str, mode_id: str, **kwargs: Any) -> SetSessionModeResponse:
        """Switch the session's approval mode."""
        live = self._live(session_id)
        if mode_id not in APPROVAL_MODES:
            raise RequestError.invalid_params({"message": f"no mode {mode_id!r}: the modes are "
                                                          f"{', '.join(APPROVAL_MODES)}"})
        await live.set_mode(mode_id)
        return SetSessionModeResponse()

    async def prompt(self, session_id: str, prompt: list[Any], **kwargs: Any) -> PromptResponse:
        """One turn (or a slash command), answered with its stop reason."""
        live = self._live(session_id)
        try:
            text = await asyncio.to_thread(prompt_text, prompt, live.root, self._protected(live))
        except AgentcliError as err:
            raise RequestError.invalid_params({"message": str(err)}) from None
        if is_command(text):
            live.start()
            await live.send(message_chunk(await run_command(live, text)))
            return PromptResponse(stop_reason="end_turn")
        return await live.prompt(text)

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        """Stop the session's turn (an unknown session: nothing to stop)."""
        live = self.sessions.get(session_id)
        if live is not None:
            live.cancel()

    async def close(self) -> None:
        """Close every session (their engines first): the process is ending."""
        live = list(self.sessions.values())
        self.sessions.clear()
        closed = await asyncio.gather(*(session.close() for session in live), return_exceptions=True)
        for session, outcome in zip(live, closed):
            if isinstance(outcome, BaseException):
                log.error("session %s did not close cleanly: %s", session.id, outcome)

    # -- helpers --------------------------------------------------------------------------
    def _live(self, session_id: str) -> LiveSession:
        live = self.sessions.get(session_id)
        if live is None:
            raise RequestError(NOT_FOUND, f"no session {session_id!r} is open here: session/new or "
                                          "session/load it first", {"session_id": session_id})
        return live

    @staticmethod
    async def _servers(servers: list[Any] | None) -> list[Any]:
        return client_servers(servers or [])

    @staticmethod
    def _protected(live: LiveSession) -> list[Path]:
        """agentcli's own files, which a prompt's links do not attach."""
        ctx = live.opened.ctx if live.opened else None
        return ctx.protected() if ctx else []

    async def _open(self, opening: Callable[[Any], Any], *, replayed: bool) -> Any:
        """Open a session on a worker thread, keep it, and answer with its id and modes."""
        loop = asyncio.get_running_loop()
        live = LiveSession(self.client, loop)
        opened = await asyncio.to_thread(opening, live.sink)
        live.attach(opened)
        self.sessions[live.id] = live
        log.info("session %s %s in %s", live.id, "loaded" if replayed else "created", live.root)
        current = modes(opened.engine.settings.approval or "ask")
        if not replayed:
            loop.call_soon(live.start)  # after the answer: the editor learns the id from it
            return NewSessionResponse(session_id=live.id, modes=current)
        await self._replay(live)
        pending = await asyncio.to_thread(lambda: opened.engine.facts.pending())
        loop.call_soon(live.start)
        if pending:  # finish the interrupted turn (or queued prompts), as resume does
            from agentcli.agent.engine.operations import RunPending
            from agentcli.cli.queued import hold_terminal_prompts

            hold = await asyncio.to_thread(hold_terminal_prompts, opened.engine.facts, "skip")
            opened.engine.submit(RunPending(hold=hold))
        return LoadSessionResponse(modes=current)

    async def _replay(self, live: LiveSession) -> None:
        """Send the session's history (before the load's answer, as ACP asks)."""
        facts = live.facts
        updates = await asyncio.to_thread(lambda: replay(facts.conversation(), facts.plan(), live.root))
        for update in updates:
            if getattr(update, "tool_call_id", None):
                live.mapper.announced.add(update.tool_call_id)
            await live.send(update)


def serve(options: AcpOptions, *, log_file: Path | None = None, debug: bool = False) -> int:
    """Run the ACP server on this process's stdin and stdout until stdin closes (0), or a
    signal stops it (130)."""
    _check_streams()
    protocol = _claim_stdout()
    _logging(log_file, debug)
    if sys.stdin.isatty():
        log.info("waiting for an editor's ACP messages on stdin: an editor starts agentcli acp "
                 "itself (README: Editors); Ctrl-D ends it")
    try:
        return asyncio.run(_main(options, protocol))
    except KeyboardInterrupt:
        return 130


def _check_streams() -> None:
    """stdin and stdout must be pipes (or a socket, a terminal) for the protocol to flow."""
    import stat

    for fd, name in ((0, "stdin"), (1, "stdout")):
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
            raise UsageError(f"its {name} is a file, not a pipe: agentcli acp speaks to an editor, which "
                             "starts it itself (see Editors in the README)")


def _claim_stdout() -> int:
    """A descriptor of the real stdout, for the protocol alone; fd 1 becomes stderr."""
    sys.stdout.flush()
    protocol = os.dup(1)
    os.dup2(2, 1)
    return protocol


def _logging(log_file: Path | None, debug: bool) -> None:
    handler: logging.Handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("agentcli acp: %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)  # the libraries' warnings, and the SDK's
    log.setLevel(logging.DEBUG if debug else logging.INFO)  # what agentcli opens and closes


async def _main(options: AcpOptions, protocol: int) -> int:
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()
    stopped: list[str] = []

    def stop(name: str) -> None:
        stopped.append(name)
        if main is not None:
            main.cancel()

    for number in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(number, stop, number.name)
    real = sys.stdout
    sys.stdout = os.fdopen(protocol, "wb", buffering=0, closefd=False)  # type: ignore[assignment]
    try:
        reader, writer = await stdio_streams(limit=50 * 1024 * 1024)
    finally:
        sys.stdout = real
    server = AcpServer(options)
    try:
        await run_agent(server, writer, reader)
    except asyncio.CancelledError:
        log.info("stopping (%s)", stopped[0] if stopped else "cancelled")
    finally:
        await asyncio.shield(server.close())
    return 130 if stopped else 0
