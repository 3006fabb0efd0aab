"""The SDK's transports as the hub uses them, and small helpers around them.

- :func:`http_transport`: the streamable HTTP transport on a client that sends the
  server's headers;
- :func:`watched`: a transport whose read stream says when it ends, so a server that
  exits is noticed at once (not at the next call);
- :func:`list_tools`, :func:`last_line` (of a server's log), :func:`quiet_sdk_logs`.

Everything here imports the SDK only when called.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any


async def list_tools(client: Any) -> list[Any]:
    """Every tool the server lists, page by page."""
    tools, cursor = [], None
    for _page in range(100):
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


@asynccontextmanager
async def http_transport(url: str, headers: dict[str, str]) -> Any:
    """The SDK's streamable HTTP transport on a client that sends ``headers``."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            yield streams


@asynccontextmanager
async def watched(transport: Any, on_end: Any) -> Any:
    """``transport`` whose read stream says when it ends (the server's connection closed)."""
    async with transport as (read, write):
        yield _WatchedStream(read, on_end), write


class _WatchedStream:
    """A read stream that calls ``on_end`` at its end of stream."""

    def __init__(self, stream: Any, on_end: Any):
        self._stream = stream
        self._on_end = on_end

    @property
    def last_context(self) -> Any:
        """The sender's context, where the wrapped stream keeps one."""
        return getattr(self._stream, "last_context", None)

    async def receive(self) -> Any:
        """The next message; at the end, ``on_end`` and the stream's own exception."""
        import anyio

        try:
            return await self._stream.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._on_end()
            raise

    def __aiter__(self) -> _WatchedStream:
        return self

    async def __anext__(self) -> Any:
        import anyio

        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        """Close the wrapped stream."""
        await self._stream.aclose()

    async def __aenter__(self) -> _WatchedStream:
        await self._stream.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._stream.__aexit__(*exc_info)


def last_line(path: Path) -> str:
    """The log's last line that agentcli did not write itself (cut to 300 characters)."""
    try:
        with open(path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
            lines = log.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.strip() and not line.startswith("--- "):
            return line.strip()[:300]
    return ""


def quiet_sdk_logs() -> None:
    """The SDK logs through ``logging``; with no handler Python would print its warnings on
    agentcli's stderr. What a server says goes to its own log instead."""
    import logging

    for name in ("mcp", "httpx2"):
        logger = logging.getLogger(name)
        logger.propagate = False
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
