"""Benchmark scouts: wall time of a fan-out whose every scout model call takes 1 s.

Run from the repository root (with agentcli installed)::

    python benchmarks/scouts.py            # 1, 4, 8, 32 scouts (--scouts 8) and 32 with --scouts 32
    python benchmarks/scouts.py --runs 3 --delay 1.0

Each run is ``agentcli new PROMPT -p`` as a subprocess against the local scripted server
(``tests/openai_server.py``): the orchestrator calls ``scout`` with N tasks, each scout
answers after ``--delay`` seconds, then the orchestrator answers. The fan-out's wall time
is the ``scout`` tool call's ``duration_ms`` in the session file (journaled before the
scouts start, closed when the last report is in), so process start-up is not counted.
Overhead per scout = (wall - waves x delay) / N, where waves = ceil(N / --scouts).
Targets (issue 11): 8 scouts within 1.2x of one; 32 with ``--scouts 32`` within 1.5x.
"""

from __future__ import annotations

import argparse
import math
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from openai_answers import text_answer, tool_answer, tool_call  # noqa: E402
from openai_server import ScriptedOpenAIServer  # noqa: E402

CASES = [(1, 8), (4, 8), (8, 8), (32, 8), (32, 32)]  # (scouts, --scouts)


def fan_out_ms(server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], tasks: int,
               parallel: int, delay: float) -> int:
    """One run: the scout call's duration in ms, read back from the session file."""
    server.script(
        tool_answer(tool_call("scout", {"tasks": [f"question {n}" for n in range(tasks)]}), match="PROMPT"),
        *[text_answer(f"report {n}", delay=delay, match="You are a scout") for n in range(tasks)],
        text_answer("done", match="## Scout 1: "),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "agentcli", "new", "PROMPT survey", "-p", "--base-url", server.base_url,
         "--scouts", str(parallel)],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=600,
    )
    if proc.returncode != 0:
        raise SystemExit(f"agentcli failed ({proc.returncode}):\n{proc.stderr}")
    session_id = proc.stderr.splitlines()[0].split()[-1]
    conn = sqlite3.connect(workspace / ".agentcli" / "sessions" / f"{session_id}.sqlite")
    try:
        (duration,) = conn.execute("SELECT duration_ms FROM tool_calls WHERE name = 'scout'").fetchone()
        (done,) = conn.execute("SELECT count(*) FROM scouts WHERE status = 'done'").fetchone()
    finally:
        conn.close()
    if done != tasks:
        raise SystemExit(f"only {done} of {tasks} scouts finished")
    return duration


def main() -> int:
    """Run every case ``--runs`` times; print the table; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per case (median shown)")
    parser.add_argument("--delay", type=float, default=1.0, help="seconds each scout model call takes")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ScriptedOpenAIServer() as server:
        workspace = Path(tmp) / "ws"
        workspace.mkdir()
        config = Path(tmp) / "config" / "agentcli"
        config.mkdir(parents=True)
        (config / "config.toml").write_text("retry_max_wait = 0.5\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTCLI_"))}
        env.update({"XDG_CONFIG_HOME": str(config.parent), "OPENAI_API_KEY": "sk-bench"})
        results = {}
        for tasks, parallel in CASES:
            times = [fan_out_ms(server, workspace, env, tasks, parallel, options.delay)
                     for _ in range(options.runs)]
            results[(tasks, parallel)] = statistics.median(times)
    one = results[(1, 8)]
    print(f"{'scouts':>6} {'--scouts':>8} {'wall ms':>8} {'x one':>6} {'ideal ms':>8} "
          f"{'overhead/scout ms':>17}  target")
    failed = False
    for (tasks, parallel), wall in results.items():
        ideal = math.ceil(tasks / parallel) * options.delay * 1000
        ratio = wall / one
        target = {(8, 8): 1.2, (32, 32): 1.5}.get((tasks, parallel))
        verdict = ""
        if target is not None:
            ok = ratio <= target
            failed |= not ok
            verdict = f"<= {target}x {'ok' if ok else 'MISSED'}"
        print(f"{tasks:>6} {parallel:>8} {wall:>8.0f} {ratio:>6.2f} {ideal:>8.0f} "
              f"{(wall - ideal) / tasks:>17.1f}  {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
