"""Benchmark MCP servers (issue 23): what they add to a start, to a call and to the end of a run.

Run from the repository root (with agentcli and its test extra installed)::

    python benchmarks/mcp_tools.py       # --runs 3 --calls 50

- **start**: ``agentcli new -p`` as a subprocess against the local scripted server, from
  the process's start to the first model request's arrival, with no MCP server, with
  ``mcp-server-time``, and with ``mcp-server-time`` plus ``tests/mcp_servers/effects.py``
  (started at once: the wall time is the slowest server's, not the sum); and from the
  answer to the process's exit (the servers are stopped then). Median of ``--runs``.
- **call**: one ``whoami`` call of the effects server through :class:`McpHub` (a thread
  hop into the hub's loop and back) beside the same call made straight on the SDK's
  ``Client`` inside one event loop; median of ``--calls``.

It prints a table; the issue sets no target, so it always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from openai_answers import text_answer  # noqa: E402
from openai_server import ScriptedOpenAIServer  # noqa: E402

EFFECTS = ROOT / "tests" / "mcp_servers" / "effects.py"
TIME = f'[mcp_servers.time]\ncommand = "{sys.executable}"\nargs = ["-m", "mcp_server_time"]\n'
FX = f'[mcp_servers.fx]\ncommand = "{sys.executable}"\nargs = ["{EFFECTS}"]\n'


def one_run(server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]) -> tuple[float, float]:
    """(start → first request, answer → exit) in ms for one ``agentcli new -p``."""
    server.script(text_answer("done"))
    began = time.time()
    command = [sys.executable, "-m", "agentcli", "new", "hi", "-p", "--base-url", server.base_url]
    proc = subprocess.run(command, cwd=workspace, env=env, capture_output=True, text=True, timeout=120)
    ended = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"agentcli failed ({proc.returncode}):\n{proc.stderr}")
    request = server.requests[-1]
    return (request.arrived_at - began) * 1000, (ended - (request.answered_at or ended)) * 1000


def starts(runs: int) -> list[tuple[str, float, float]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ScriptedOpenAIServer() as server:
        workspace = Path(tmp) / "ws"
        workspace.mkdir()
        config = Path(tmp) / "config" / "agentcli"
        config.mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTCLI_"))}
        env.update({"XDG_CONFIG_HOME": str(config.parent), "OPENAI_API_KEY": "sk-bench"})
        for label, servers in (("no MCP server", ""), ("mcp-server-time", TIME),
                               ("mcp-server-time + effects.py", TIME + FX)):
            (config / "config.toml").write_text(servers)
            times = [one_run(server, workspace, env) for _ in range(runs)]
            rows.append((label, statistics.median(t[0] for t in times),
                         statistics.median(t[1] for t in times)))
    return rows


def calls(count: int) -> tuple[float, float]:
    """Median ms of one call through the hub, and straight on the SDK's Client."""
    from mcp import Client, StdioServerParameters

    from agentcli.agent.mcp.config import ServerConfig
    from agentcli.agent.mcp.hub import McpHub
    from agentcli.agent.secrets import shell_environment

    with tempfile.TemporaryDirectory() as tmp:
        hub = McpHub([ServerConfig("fx", "bench", command=sys.executable, args=[str(EFFECTS)])],
                     workspace_root=Path(tmp), log_dir=Path(tmp), base_env=shell_environment(os.environ))
        hub.start()
        whoami = next(t for t in hub.states()[0].tools if t.name == "whoami")
        through_hub = []
        for _ in range(count):
            began = time.perf_counter()
            hub.call(whoami, {"variables": []})
            through_hub.append((time.perf_counter() - began) * 1000)
        hub.close()

    async def direct() -> list[float]:
        spent = []
        params = StdioServerParameters(command=sys.executable, args=[str(EFFECTS)])
        async with Client(params, cache=None) as client:
            for _ in range(count):
                began = time.perf_counter()
                await client.call_tool("whoami", {"variables": []})
                spent.append((time.perf_counter() - began) * 1000)
        return spent

    return statistics.median(through_hub), statistics.median(asyncio.run(direct()))


def main() -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each start (median shown)")
    parser.add_argument("--calls", type=int, default=50, help="calls measured (median shown)")
    options = parser.parse_args()
    print(f"{'agentcli new -p with':<30} {'start → 1st request ms':>22} {'answer → exit ms':>17}")
    for label, first, leave in starts(options.runs):
        print(f"{label:<30} {first:>22.0f} {leave:>17.0f}")
    hub_ms, sdk_ms = calls(options.calls)
    print(f"\none MCP call (effects.py whoami): {hub_ms:.2f} ms through McpHub, {sdk_ms:.2f} ms on the SDK's "
          f"Client directly ({hub_ms - sdk_ms:+.2f} ms for the thread hop)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
