"""Benchmark the session file: append throughput, open cost by session length, CLI startup.

Run from the repository root (with agentcli installed)::

    python benchmarks/store.py            # the full run (builds a 100,000-message file)
    python benchmarks/store.py --quick    # smaller sizes, for a smoke test

(a) appends of ~1 KB messages through ``session.transcript.append``, each its own
committed transaction as the agent does, beside raw ``sqlite3`` inserts into an
identical table with the same settings (WAL, ``synchronous=FULL``, one commit per
insert) in the same run; (b) opening a session as its writer and loading its active
context at 10, 1,000 and 100,000 messages (medians); (c) ``agentcli --help`` and
``agentcli list`` startup (medians of subprocess runs). Targets from issue 2.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from agentcli.agent.context import ContextBuilder, ContextSettings
from agentcli.session.directory import SessionDirectory
from agentcli.session.records import now_iso
from agentcli.session.session import Session

BODY = ("The quick brown fox jumps over the lazy dog; " * 23)[:1000]  # ~1 KB of text
SETTINGS = ContextSettings(window=128_000)  # a 128k-token window: ~480,000 characters read at most


def _builder(session: Session) -> ContextBuilder:
    """A fresh builder, as a resumed process has: it reads the whole live context."""
    return ContextBuilder(session, "orchestrator", SETTINGS)


def median_ms(runs: int, fn: Callable[[], object]) -> float:
    """Median wall time of ``fn`` over ``runs`` calls, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_appends(folder: Path, count: int, block: int = 50) -> tuple[float, float]:
    """Messages per second: through the session API, and raw sqlite3 into the same table.

    The two alternate in blocks, so a busy machine slows both sides alike.
    """
    session = SessionDirectory(folder).create(workspace_root=folder)
    ddl = [r[0] for r in session.db.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'messages' AND sql IS NOT NULL")]
    raw = sqlite3.connect(folder / "raw.sqlite", isolation_level=None)  # autocommit, like Db
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("PRAGMA synchronous = FULL")
    for statement in ddl:
        raw.execute(statement)
    api_seconds = raw_seconds = 0.0
    try:
        for first in range(0, count, block):
            n_block = range(first, min(first + block, count))
            start = time.perf_counter()
            for n in n_block:
                session.transcript.append("user" if n % 2 else "assistant", BODY, agent="orchestrator")
            api_seconds += time.perf_counter() - start
            start = time.perf_counter()
            for n in n_block:  # one statement, so one committed transaction, per message
                raw.execute(
                    "INSERT INTO messages (agent, role, content, chars, created_at) VALUES (?, ?, ?, ?, ?)",
                    ["orchestrator", "user" if n % 2 else "assistant", BODY, len(BODY), now_iso()],
                )
            raw_seconds += time.perf_counter() - start
    finally:
        session.close()
        raw.close()
    return count / api_seconds, count / raw_seconds


def build_session(folder: Path, messages: int) -> Path:
    """A session of ``messages`` ~1 KB messages, written in one bulk transaction."""
    with SessionDirectory(folder).create(workspace_root=folder, title=f"{messages} messages") as session:
        calls = json.dumps([{"id": "c", "type": "function",
                             "function": {"name": "read_file", "arguments": '{"path": "a.py"}'}}])
        now = now_iso()
        rows = []
        for n in range(messages):
            role = ("system", "user", "assistant", "tool")[0 if n == 0 else 1 + n % 3]
            tool_calls = calls if role == "assistant" else None
            tool_call_id = "c" if role == "tool" else None
            rows.append(("orchestrator", role, BODY, len(BODY) + len(tool_calls or ""), tool_calls,
                         tool_call_id, now))
        with session.transaction():
            session.db.conn.executemany(
                "INSERT INTO messages (agent, role, content, chars, tool_calls, tool_call_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
        return session.path


def open_and_load(path: Path) -> int:
    """What resuming costs before the first request: open as writer, load the context."""
    with Session.open(path, writer=True) as session:
        return len(_builder(session).build(tools=0).messages)


def open_only(path: Path) -> None:
    """Open as writer and close: the part that must not depend on the session's length."""
    Session.open(path, writer=True).close()


def context_only(path: Path, runs: int) -> float:
    """Median time of loading the context of an already open session."""
    with Session.open(path, writer=True) as session:
        return median_ms(runs, lambda: _builder(session).build(tools=0))


def cli_command() -> list[str]:
    """The ``agentcli`` console script beside this Python, else ``python -m agentcli``."""
    script = Path(sys.executable).parent / "agentcli"
    return [str(script)] if script.exists() else [sys.executable, "-m", "agentcli"]


def bench_startup(args: list[str], runs: int) -> float:
    """Median wall time of ``agentcli ARGS`` as a subprocess, in milliseconds."""
    command = cli_command() + args

    def run() -> None:
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

    run()  # warm the page cache once
    return median_ms(runs, run)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main() -> int:
    """Run every benchmark and print one table; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description="agentcli session-file benchmarks")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (no 100,000-message file)")
    parser.add_argument("--appends", type=int, default=1000, help="messages appended in (a)")
    parser.add_argument("--runs", type=int, default=30, help="runs per median in (b)")
    parser.add_argument("--startup-runs", type=int, default=10, help="subprocess runs per median in (c)")
    args = parser.parse_args()
    sizes = [10, 1_000, 10_000] if args.quick else [10, 1_000, 100_000]
    appends = min(args.appends, 200) if args.quick else args.appends
    rows: list[tuple[str, str, str, str]] = []
    tmp = Path(tempfile.mkdtemp(prefix="agentcli-bench-"))
    try:
        api, raw = bench_appends(tmp / "appends", appends)
        rows += [
            (f"(a) append ~1 KB message, {appends} commits", f"{api:,.0f} msg/s", "", ""),
            ("    raw sqlite3, same table and settings", f"{raw:,.0f} msg/s", "", ""),
            ("    ratio api / raw", f"{api / raw:.2f}x", ">= 0.5x", verdict(api / raw >= 0.5)),
        ]
        folder = tmp / "sessions"
        opened: dict[int, float] = {}
        for size in sizes:
            path = build_session(folder, size)
            loaded = open_and_load(path)
            opened[size] = median_ms(args.runs, lambda path=path: open_and_load(path))
            parts = (f"open {median_ms(args.runs, lambda path=path: open_only(path)):.1f} + "
                     f"context {context_only(path, args.runs):.1f}")
            rows.append((f"(b) open + context, {size:,} messages ({loaded} loaded)",
                         f"{opened[size]:.1f} ms", parts, ""))
        ratio = opened[sizes[-1]] / opened[sizes[0]]
        rows.append((f"    ratio {sizes[-1]:,} / {sizes[0]}", f"{ratio:.2f}x", "<= 2x", verdict(ratio <= 2)))
        same_window = opened[sizes[-1]] / opened[sizes[1]]
        rows.append((f"    ratio {sizes[-1]:,} / {sizes[1]:,} (same context window)", f"{same_window:.2f}x",
                     "", ""))
        help_ms = bench_startup(["--help"], args.startup_runs)
        list_ms = bench_startup(["list", "--all", "--sessions-dir", str(folder)], args.startup_runs)
        rows += [
            ("(c) agentcli --help", f"{help_ms:.0f} ms", "< 250 ms", verdict(help_ms < 250)),
            (f"    agentcli list --all ({len(sizes)} sessions)", f"{list_ms:.0f} ms", "< 250 ms",
             verdict(list_ms < 250)),
        ]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    header = ("benchmark", "result", "target / detail", "")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return 1 if any(r[3] == "MISSED" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
