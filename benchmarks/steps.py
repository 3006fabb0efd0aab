"""Benchmark agentcli's own cost per step, its start and its exit (issue 15).

Run from the repository root (with agentcli installed)::

    python benchmarks/steps.py              # N = 1, 20 and 200 steps, 3 runs each
    python benchmarks/steps.py --runs 5 --sizes 1 20 200

Each run is ``agentcli new -p`` as a real process against an instant local scripted
server (``tests/openai_server.py``, answering by turn). Every step but the last is a
``read_file`` of a small file, so a step's time is agentcli's own: assembling and
sending the request, parsing the stream, journaling the answer and the tool call,
running the tool, committing. Measured:

- start → first request: from spawning the process to the server receiving request 1;
- overhead per step: from the server having written an answer to the next request
  arriving (the server's own parsing and answering left out), as the median over
  steps 1–20 and over steps 180–200;
- last answer → exit: from the last request to the process's exit;
- bytes per step: the session file (with its WAL) divided by the steps;
- the whole run: from spawning the process to its exit, and agentcli's own time over all
  steps (the sum of the per-step overheads);
- peak RSS of the process;
- a ``run_shell`` of ``true``: ``run_command("true")`` in this process, median of 30,
  unsandboxed and in the session sandbox (bwrap) side by side (``benchmarks/sandbox.py``
  measures the sandbox in more detail);
- the floor: a Python that imports ``openai`` and leaves with ``os._exit``, timed in the
  same runs (the SDK is the client, and importing it is most of any start).

The package's bytecode is compiled first, as ``pip install`` does: with
``PYTHONDONTWRITEBYTECODE=1`` an editable checkout would recompile on every start.

Goals on a 2-core machine: ≤ 60 ms per step at both ends (flat, step 200 within 1.2x of
step 20), start → first request ≤ 900 ms, last answer → exit ≤ 100 ms, ≤ 4 KB per step,
``run_shell true`` ≤ 20 ms (sandboxed). Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from openai_answers import text_answer, tool_answer, tool_call  # noqa: E402
from openai_server import ScriptedOpenAIServer  # noqa: E402


def one_run(steps: int, tmp: Path) -> dict[str, float]:
    """One ``agentcli new -p`` of ``steps`` model calls; timings in ms, bytes, RSS in KB."""
    workspace = tmp / f"ws-{steps}-{time.monotonic_ns()}"
    workspace.mkdir()
    (workspace / "a.txt").write_text("alpha\n" * 20)
    answers = [tool_answer(tool_call("read_file", {"path": "a.txt"})) for _ in range(steps - 1)]
    answers.append(text_answer("done"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTCLI_"))}
    env.update({"OPENAI_API_KEY": "sk-bench", "XDG_CONFIG_HOME": str(tmp / "config")})
    with ScriptedOpenAIServer() as server:
        server.answer_by_turn(*answers)
        began = time.time()
        proc = subprocess.Popen(
            [sys.executable, "-m", "agentcli", "new", "go", "-p", "--base-url", server.base_url,
             "--approval", "full-auto", "--max-turns", str(steps + 5)],
            cwd=workspace, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        _, rusage = os.wait4(proc.pid, 0)[1:]
        ended = time.time()
        err = proc.stderr.read() if proc.stderr else ""
        assert len(server.requests) == steps, f"{len(server.requests)} requests of {steps}: {err}"
        times = [r.received_at for r in server.requests]
        # agentcli's own time: from the answer being written to the next request arriving
        gaps = [(b.arrived_at - a.answered_at) * 1000 for a, b in zip(server.requests, server.requests[1:])
                if a.answered_at is not None]
    files = list((workspace / ".agentcli" / "sessions").glob("*.sqlite*"))
    size = sum(f.stat().st_size for f in files if not f.name.endswith(".lock"))
    return {
        "start_ms": (times[0] - began) * 1000,
        "early_ms": statistics.median(gaps[:20]) if gaps else float("nan"),
        "late_ms": statistics.median(gaps[179:200]) if len(gaps) >= 199 else float("nan"),
        "exit_ms": (ended - times[-1]) * 1000,
        "bytes_per_step": size / steps,
        "run_ms": (ended - began) * 1000,
        "own_ms": sum(gaps),
        "rss_kb": rusage.ru_maxrss,
    }


def openai_import_ms() -> float:
    """A Python that only imports ``openai`` and leaves at once (``os._exit``: no teardown,
    as agentcli leaves): the floor of any start."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import openai, os; os._exit(0)"], check=True)
    return (time.perf_counter() - began) * 1000


def shell_true_ms(runs: int = 30, *, sandboxed: bool = False) -> list[float]:
    """``run_command("true")`` timings in this process, unconfined or in a session sandbox
    (empty for a checkout without it, or a machine without bwrap)."""
    try:
        from agentcli.agent.tools.shell import run_command
    except ImportError:  # an older layout, when comparing checkouts
        return []
    sandbox = None
    if sandboxed:
        try:
            from agentcli.agent.sandbox.handle import shell_sandbox
        except ImportError:
            return []
        sandbox = shell_sandbox("workspace-write", False, Path.cwd(), [])
        if not sandbox.availability().ok:
            return []
    try:
        supervisor = sandbox.supervisor() if sandbox else None
        run_command("true", Path.cwd(), timeout=10, **({"supervisor": supervisor} if supervisor else {}))
        out = []
        for _ in range(runs):
            began = time.perf_counter()
            run_command("true", Path.cwd(), timeout=10, **({"supervisor": supervisor} if supervisor else {}))
            out.append((time.perf_counter() - began) * 1000)
        return out
    finally:
        if sandbox is not None:
            sandbox.close()


def spread(values: list[float]) -> str:
    """Median with its range: ``82 (74–95)``."""
    values = [v for v in values if v == v]
    if not values:
        return "-"
    return f"{statistics.median(values):.0f} ({min(values):.0f}–{max(values):.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 20, 200])
    options = parser.parse_args()
    # Bytecode as an installed package has it (pip compiles at install); an editable
    # checkout under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile ~0.1 s a start.
    compileall.compile_dir(ROOT / "agentcli", quiet=1)
    results: dict[int, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        (tmp / "config").mkdir()
        floor: list[float] = []
        for _ in range(options.runs):  # interleave the sizes so machine load hits each alike
            for steps in options.sizes:
                results.setdefault(steps, []).append(one_run(steps, tmp))
            floor.append(openai_import_ms())
    print(f"{'steps':>5}  {'start→req1 ms':>16}  {'step 1-20 ms':>14}  {'step 180-200 ms':>15}  "
          f"{'last→exit ms':>14}  {'whole run ms':>18}  {'own, all steps':>14}  {'bytes/step':>10}  "
          f"{'peak RSS MB':>11}")
    for steps, runs in results.items():
        def col(key: str, runs: list[dict[str, float]] = runs) -> list[float]:
            return [r[key] for r in runs]
        print(f"{steps:>5}  {spread(col('start_ms')):>16}  {spread(col('early_ms')):>14}  "
              f"{spread(col('late_ms')):>15}  {spread(col('exit_ms')):>14}  {spread(col('run_ms')):>18}  "
              f"{statistics.median(col('own_ms')):>14.0f}  "
              f"{statistics.median(col('bytes_per_step')):>10.0f}  "
              f"{statistics.median(col('rss_kb')) / 1024:>11.0f}")
    starts = [r["start_ms"] for runs in results.values() for r in runs]
    print(f"python -c 'import openai' alone (no teardown): {spread(floor)} ms; "
          f"start → first request beyond it: {statistics.median(starts) - statistics.median(floor):.0f} ms")
    plain, shell = shell_true_ms(), shell_true_ms(sandboxed=True)
    print(f"run_shell true: unsandboxed {spread(plain)} ms, sandboxed {spread(shell)} ms")
    largest = max(results)
    runs = results[largest]
    checks = {
        "start → first request ≤ 900 ms": statistics.median(r["start_ms"] for r in runs) <= 900,
        "per step ≤ 60 ms (steps 1–20)": statistics.median(r["early_ms"] for r in runs) <= 60,
        "last answer → exit ≤ 100 ms": statistics.median(r["exit_ms"] for r in runs) <= 100,
        "≤ 4 KB per step": statistics.median(r["bytes_per_step"] for r in runs) <= 4096,
        "run_shell true ≤ 20 ms": bool(shell) and statistics.median(shell) <= 20,
    }
    late = [r["late_ms"] for r in runs if r["late_ms"] == r["late_ms"]]
    if late:
        early = statistics.median(r["early_ms"] for r in runs)
        checks["per step ≤ 60 ms (steps 180–200)"] = statistics.median(late) <= 60
        checks["step 200 within 1.2x of step 20"] = statistics.median(late) <= 1.2 * early
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'MISS'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
