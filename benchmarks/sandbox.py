"""Benchmark the shell sandbox (issue 19): ``run_shell true`` sandboxed beside unsandboxed.

Run from the repository root (with agentcli installed, bwrap on PATH)::

    python benchmarks/sandbox.py            # 3 rounds of 30 commands each way
    python benchmarks/sandbox.py --runs 100 --rounds 5

Measured, in this process, on a workspace in ``$TMPDIR``:

- ``run_shell true`` through the tool (``default_registry(...).prepare("run_shell")`` then
  ``execute``: the sandbox's policy check, the supervisor's fork, the report), unsandboxed
  (``--sandbox off``) and sandboxed (``workspace-write``, no network), alternating in rounds
  so that machine load hits both alike; the median and range of each;
- the sandbox's start: the first sandboxed command of a session (bwrap, then Python
  starting the supervisor inside it), and a bare ``bwrap ... true`` for comparison;
- ``bwrap``'s detection: the first (a probe, or the per-boot cache) and a later one.

Goal on a 2-core machine: sandboxed ``run_shell true`` median ≤ 20 ms. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def tool_true_ms(toolbox: object, runs: int) -> list[float]:
    """``run_shell true`` through the tool, ``runs`` times; ms each."""
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        result = toolbox.prepare("run_shell", '{"command": "true"}').execute()  # type: ignore[attr-defined]
        out.append((time.perf_counter() - began) * 1000)
        assert result.text.endswith("[exit code: 0]"), result.text
    return out


def spread(values: list[float]) -> str:
    """Median with its range: ``8.1 (7.2–12.0)``."""
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    if shutil.which("bwrap") is None:
        print("bwrap is not on PATH: install bubblewrap to measure the sandbox")
        return 1
    from agentcli.agent.sandbox.backend import platform_backend
    from agentcli.agent.sandbox.handle import shell_sandbox
    from agentcli.agent.tools.registry import default_registry
    from agentcli.agent.workspace.jail import Workspace

    began = time.perf_counter()
    found = platform_backend().detect()
    detect_first = (time.perf_counter() - began) * 1000
    began = time.perf_counter()
    platform_backend().detect()
    detect_again = (time.perf_counter() - began) * 1000
    if not found.ok:
        print(f"no sandbox here: {found.refusal()}")
        return 1
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder).resolve()
        workspace = Workspace(root)
        plain = default_registry(workspace, sandbox=shell_sandbox("off", False, root, []))
        sandbox = shell_sandbox("workspace-write", False, root, [])
        boxed = default_registry(workspace, sandbox=sandbox)
        try:
            tool_true_ms(plain, 1)  # the unconfined supervisor's start, not measured
            began = time.perf_counter()
            tool_true_ms(boxed, 1)
            start_ms = (time.perf_counter() - began) * 1000
            bare = []
            for _ in range(5):
                began = time.perf_counter()
                subprocess.run(["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                                "--unshare-pid", "--unshare-net", "--", "true"], check=True)
                bare.append((time.perf_counter() - began) * 1000)
            unsandboxed: list[float] = []
            sandboxed: list[float] = []
            for _ in range(options.rounds):
                unsandboxed += tool_true_ms(plain, options.runs)
                sandboxed += tool_true_ms(boxed, options.runs)
        finally:
            sandbox.close()
    print(f"{'run_shell true, ms':<34} {'median (range)':>20}")
    print(f"{'unsandboxed (--sandbox off)':<34} {spread(unsandboxed):>20}")
    print(f"{'sandboxed (workspace-write)':<34} {spread(sandboxed):>20}")
    print(f"{'first sandboxed command (start)':<34} {start_ms:>20.0f}")
    print(f"{'bare bwrap ... true':<34} {spread(bare):>20}")
    print(f"{'detect bwrap: first, then again':<34} {f'{detect_first:.1f}, {detect_again:.2f}':>20}")
    ok = statistics.median(sandboxed) <= 20
    print(f"{'ok  ' if ok else 'MISS'} sandboxed run_shell true ≤ 20 ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
