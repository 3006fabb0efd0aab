"""Benchmark ``retention_days``: what the check costs each start, by sessions in the folder.

Run from the repository root (with agentcli installed)::

    python benchmarks/prune.py            # 10, 100 and 1,000 session files
    python benchmarks/prune.py --quick    # 10 and 100

Every ``agentcli new`` and ``resume`` with ``retention_days`` set looks, at most once a
day per sessions folder, for sessions not active for that long (``session/prune.py``).
Measured here, medians of ``--runs``: a start within the day (one ``stat`` of the stamp
file); the daily look when no session is old (one ``stat`` per file, nothing opened);
and the daily look when every file is past the age but of another workspace (each one
opened to read its ``meta``: the worst case of a look that deletes nothing). Target
(issue 24): the daily look under 10 ms at 1,000 sessions when none is old.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from agentcli.session.directory import SessionDirectory
from agentcli.session.prune import expired, mark_checked, retention_due

TARGET_MS = 10.0


def build(folder: Path, count: int, workspace: Path) -> SessionDirectory:
    """``count`` session files of ``workspace`` in ``folder`` (copies of one real session)."""
    directory = SessionDirectory(folder)
    with directory.create(workspace_root=workspace, title="a session", prompt="hello",
                          system="You are agentcli.") as session:
        template = session.path
    for number in range(1, count):
        shutil.copyfile(template, folder / f"{number:013d}.sqlite")
    return directory


def median_ms(runs: int, fn) -> float:  # noqa: ANN001 - a callable of no arguments
    """Median wall time of ``fn`` over ``runs`` calls, in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(tmp: Path, count: int, runs: int, now: datetime) -> tuple[float, float, float]:
    """Milliseconds of: a start within the day, the daily look with none old, with all old."""
    folder = tmp / str(count)
    workspace = tmp / f"ws{count}"
    workspace.mkdir()
    directory = build(folder, count, workspace)
    mark_checked(folder)
    skipped = median_ms(runs, lambda: retention_due(folder, now=now))
    fresh = median_ms(runs, lambda: expired(directory, workspace, 30, now=now))
    past = time.time() - 60 * 86400
    for path in folder.glob("*.sqlite"):
        os.utime(path, (past, past))
    other = tmp / "elsewhere"  # none is of this workspace: each is opened, none deleted
    opened = median_ms(max(3, runs // 4), lambda: expired(directory, other, 30, now=now))
    return skipped, fresh, opened


def main(argv: list[str] | None = None) -> int:
    """Print the table; exit 1 when the target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 and 100 sessions only")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args(argv)
    sizes = (10, 100) if args.quick else (10, 100, 1000)
    now = datetime.now(timezone.utc)
    print(f"{'sessions':>8}  {'same day (ms)':>13}  {'none old (ms)':>13}  {'all old, opened (ms)':>20}")
    missed = False
    with tempfile.TemporaryDirectory() as tmp:
        for count in sizes:
            skipped, fresh, opened = measure(Path(tmp), count, args.runs, now)
            print(f"{count:>8}  {skipped:>13.3f}  {fresh:>13.2f}  {opened:>20.1f}")
            if count == 1000 and fresh > TARGET_MS:
                missed = True
    print(f"target: the check under {TARGET_MS:g} ms at 1,000 sessions when none is old"
          + (" — MISSED" if missed else " — met"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
