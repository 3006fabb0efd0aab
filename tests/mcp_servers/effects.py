"""An MCP server written for agentcli's tests with the SDK's server side (``MCPServer``).

Its tools have effects a test can see: each call appends ``start TAG`` (and, when it
finishes, ``end TAG``) to the file named by ``$EFFECTS_LOG``, so a call sent twice shows as
two ``start`` lines. ``python effects.py`` serves on stdio; ``python effects.py --http PORT``
serves streamable HTTP on 127.0.0.1.

- ``slow_effect(seconds, tag)``: not idempotent, not read-only (a call with effects);
- ``slow_idempotent(seconds, tag)``: annotated ``idempotentHint``;
- ``crash()``: the server process dies at once (``os._exit``);
- ``whoami()``: read-only: the server's pid and the variables it was given;
- ``write_note(path, text)``: writes a file under its working folder (the workspace);
- ``picture()``: an image and a line of text;
- ``authorization()``: the Authorization header of the request (over HTTP);
- ``extra()``: listed only when ``$EFFECTS_EXTRA`` is set (a server whose tools change).

At start it appends ``pid PID`` to the log: a test can check that no server outlives agentcli.
"""

from __future__ import annotations

import base64
import os
import sys
import time

from mcp.server.mcpserver import Context, Image, MCPServer
from mcp_types import ToolAnnotations

server = MCPServer("effects", version="1.0")


def _log(line: str) -> None:
    path = os.environ.get("EFFECTS_LOG")
    if path:
        with open(path, "a") as out:
            out.write(line + "\n")


def _slow(seconds: float, tag: str) -> str:
    _log(f"start {tag}")
    time.sleep(seconds)
    _log(f"end {tag}")
    return f"slept {seconds:g} s ({tag})"


@server.tool(annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=False, destructive_hint=True))
def slow_effect(seconds: float, tag: str) -> str:
    """Sleep, with an effect before and after (a call that must never run twice)."""
    return _slow(seconds, tag)


@server.tool(annotations=ToolAnnotations(read_only_hint=False, idempotent_hint=True))
def slow_idempotent(seconds: float, tag: str) -> str:
    """Sleep, with an effect that is safe to repeat."""
    return _slow(seconds, tag)


@server.tool()
def crash() -> str:
    """Kill this server process at once."""
    _log("crash")
    os._exit(3)


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def whoami(variables: list[str]) -> str:
    """This server's pid, and which of ``variables`` it was given."""
    given = {name: os.environ[name] for name in variables if name in os.environ}
    return f"pid {os.getpid()} pgid {os.getpgrp()} env {sorted(given.items())}"


@server.tool()
def write_note(path: str, text: str) -> str:
    """Write ``text`` to ``path`` (relative to the server's working folder)."""
    with open(path, "w") as out:
        out.write(text)
    return f"wrote {len(text)} characters to {path}"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def picture() -> list:
    """An image and a caption."""
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
    return ["a one-pixel picture", Image(data=png, format="png")]


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def authorization(ctx: Context) -> str:
    """The Authorization header this call came with (over streamable HTTP)."""
    return f"authorization: {(ctx.headers or {}).get('authorization')}"


if os.environ.get("EFFECTS_EXTRA"):
    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def extra() -> str:
        """A tool some runs of this server have."""
        return "extra"


if __name__ == "__main__":
    print(f"effects server {os.getpid()} starting", file=sys.stderr, flush=True)
    _log(f"pid {os.getpid()}")
    if len(sys.argv) > 2 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
