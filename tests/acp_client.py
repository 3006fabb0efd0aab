"""The editor's side of ACP for tests: the SDK's own client connection to a real ``agentcli acp``.

``editor()`` starts ``python -m agentcli acp`` as a subprocess through the SDK
(``spawn_agent_process``) and initializes it; :class:`Editor` is the client it talks to:
it records every ``session/update`` and answers ``session/request_permission`` from a
script of option ids, as a person clicking in an editor would::

    async with editor(Editor(["allow"]), workspace, env, server.base_url, log) as (conn, process):
        session = await conn.new_session(cwd=str(workspace), mcp_servers=[])
        await conn.prompt(session_id=session.session_id, prompt=[text_block("hi")])
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from acp import spawn_agent_process, text_block
from acp.schema import AllowedOutcome, DeniedOutcome, RequestPermissionResponse

__all__ = ["Editor", "editor", "run", "text_block"]

CANCEL = "cancel"  # a scripted answer: the editor cancels the question instead of choosing


class Editor:
    """A client that records updates and answers permission questions from ``answers``."""

    def __init__(self, answers: Iterable[str] = ()):
        self.updates: list[tuple[str, Any]] = []
        self.questions: list[tuple[str, Any, list[Any]]] = []  # (session, tool_call, options)
        self.answers = deque(answers)
        self._changed: asyncio.Condition | None = None

    @property
    def changed(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append((session_id, update))
        async with self.changed:
            self.changed.notify_all()

    async def request_permission(self, session_id: str, tool_call: Any, options: list[Any],
                                 **kwargs: Any) -> RequestPermissionResponse:
        self.questions.append((session_id, tool_call, options))
        async with self.changed:
            self.changed.notify_all()
        choice = self.answers.popleft() if self.answers else CANCEL
        if choice == CANCEL:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(outcome=AllowedOutcome(outcome="selected", option_id=choice))

    # -- reading what came ---------------------------------------------------------------
    def of(self, session_id: str, kind: str | None = None) -> list[Any]:
        """The updates of one session (of one ``sessionUpdate`` kind), in order."""
        return [u for s, u in self.updates if s == session_id and (kind is None or u.session_update == kind)]

    def text(self, session_id: str) -> str:
        """The agent's answer text, as the editor shows it."""
        return "".join(u.content.text for u in self.of(session_id, "agent_message_chunk"))

    def calls(self, session_id: str) -> dict[str, dict[str, Any]]:
        """Each tool call as the editor would show it now: its fields, updates applied."""
        shown: dict[str, dict[str, Any]] = {}
        for update in self.of(session_id):
            if update.session_update in ("tool_call", "tool_call_update"):
                fields = {k: v for k, v in update.model_dump().items() if v is not None}
                shown.setdefault(update.tool_call_id, {}).update(fields)
        return shown

    async def wait_for(self, check: Callable[[], Any], timeout: float = 30) -> Any:
        """Wait until ``check()`` is true (re-checked at every update); its value."""
        async def until() -> Any:
            async with self.changed:
                while not (value := check()):
                    await _wait(self.changed)
                return value
        return await asyncio.wait_for(until(), timeout)


async def _wait(condition: asyncio.Condition) -> None:
    """Wait for a notification, or a moment (what is checked may change off the updates)."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(condition.wait(), 0.1)


@contextlib.asynccontextmanager
async def editor(client: Editor, workspace: Path, env: dict[str, str], base_url: str, log: Path,
                 *args: str) -> AsyncIterator[tuple[Any, Any]]:
    """A started, initialized ``agentcli acp`` (its stderr in ``log``) and the connection to it."""
    with log.open("a") as stderr:
        command = ("-m", "agentcli", "acp", "--base-url", base_url, *args)
        async with spawn_agent_process(client, sys.executable, *command, env=env, cwd=workspace,
                                       transport_kwargs={"stderr": stderr}) as (conn, process):
            await asyncio.wait_for(conn.initialize(protocol_version=1), 30)
            yield conn, process


def run(scenario: Any, timeout: float = 90) -> Any:
    """Run one test's coroutine to its end (or fail after ``timeout`` seconds)."""
    return asyncio.run(asyncio.wait_for(scenario, timeout))
