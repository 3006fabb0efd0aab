"""Benchmark change tracking and rollback beside the shadow-git approach, on one tree.

Run from the repository root (with agentcli installed and ``git`` on the PATH)::

    python benchmarks/checkpoint.py             # 10,000 files, ~100 MB
    python benchmarks/checkpoint.py --quick     # 1,000 files, for a smoke test

A tree of mixed text and binary files (and a ``.gitignore``) is generated in a
temporary folder; then, in the same run and on the same tree:

- the first checkpoint (every file stored in ``blobs``) and the growth of the session
  file, beside shadow git's first ``git add -A && git commit`` into a separate git dir
  and the size of its object store;
- per round, a simulated shell command that changes 10 files (6 edits, 2 creations,
  1 deletion, 1 mode change): our scan before it (``before_shell``), our scan + diff +
  log after it (``after_shell``), and shadow git's snapshot after it;
- the rollback of those 10 changes (``rollback``, files only) beside shadow git's
  restore of the earlier commit (``git reset --hard``, which also deletes the files
  created since).

With ``--git`` the tree is also a git repository of its own (everything committed, and
20 ``*.log`` files the ``.gitignore`` matches added with ``-f``), and each simulated
command also ``git add``s one file: every scan after a command reads the index again,
the worst case of issue 26 (a tracked file is part of the workspace, ignored or not).

Ours run in-process; git's are subprocesses (that is how agents drive it); the two
alternate within each round, so machine load hits both alike. Medians over the rounds.
Targets from issue 5 (exit 1 when one is missed): first checkpoint below shadow git's,
scan+diff below its snapshot, rollback at least 4x faster than its restore.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from agentcli.agent.history.rollback import rollback, undo_last_rollback
from agentcli.agent.history.tracker import Tracker
from agentcli.session.session import Session

GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "gc.auto=0",
       "-c", "core.fsync=none"]


def generate(root: Path, files: int, seed: int = 5) -> tuple[int, int]:
    """Write ``files`` files (~10 KB average; 1% binary) under ``root``; return (files, bytes)."""
    rng = random.Random(seed)
    words = ["".join(rng.choices("abcdefghijklmnopqrstuvwxyz_", k=rng.randint(2, 9))) for _ in range(4000)]
    pool = "\n".join(" ".join(rng.choices(words, k=10)) for _ in range(120_000)).encode()
    total = 0
    for n in range(files):
        folder = root / f"pkg{n % 40}" / f"mod{n % 23}"
        folder.mkdir(parents=True, exist_ok=True)
        if n % 100 == 0:
            name, data = f"asset{n}.bin", rng.randbytes(200_000)
        elif n % 10 == 0:
            name, size = f"data{n}.json", 40_000
            start = rng.randrange(len(pool) - size)
            data = pool[start : start + size]
        else:
            name, size = f"module{n}.py", rng.randint(2_000, 10_000)
            start = rng.randrange(len(pool) - size)
            data = pool[start : start + size]
        (folder / name).write_bytes(data)
        total += len(data)
    (root / ".gitignore").write_text("*.log\n__pycache__/\nbuild/\nnode_modules/\n")
    return files, total


def git(shadow: Path, tree: Path, *args: str) -> None:
    subprocess.run([*GIT, f"--git-dir={shadow}", f"--work-tree={tree}", *args], check=True,
                   stdout=subprocess.DEVNULL)


def snapshot(shadow: Path, tree: Path) -> None:
    """Shadow git's snapshot: stage everything, commit."""
    git(shadow, tree, "add", "-A")
    git(shadow, tree, "commit", "-q", "--no-verify", "--allow-empty", "-m", "snapshot")


def head(shadow: Path) -> str:
    return subprocess.run(["git", f"--git-dir={shadow}", "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def disk_bytes(folder: Path) -> int:
    """Space the files under ``folder`` take on disk (allocated blocks, as ``du`` counts)."""
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def change_ten(tree: Path, modules: list[Path], round_no: int) -> None:
    """What a shell command might do: 6 edits, 2 new files, 1 deletion, 1 chmod."""
    picked = modules[round_no * 8 : round_no * 8 + 8]
    for path in picked[:6]:
        with open(path, "ab") as handle:
            handle.write(f"# round {round_no}\n".encode())
    (tree / "pkg7" / f"new_{round_no}.py").write_text("print('new')\n")
    (tree / "pkg8" / f"new_{round_no}.txt").write_text("new\n")
    picked[6].unlink()
    os.chmod(picked[7], 0o755)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 files instead of 10,000")
    parser.add_argument("--rounds", type=int, default=9, help="rounds of 10 changes (medians)")
    parser.add_argument("--git", action="store_true",
                        help="make the tree a git repository whose index changes before every scan")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentcli-bench-") as tmp:
        run(Path(tmp), 1_000 if args.quick else 10_000, args.rounds, args.git)


def make_repository(tree: Path) -> None:
    """Commit the tree in a repository of its own, with tracked files its .gitignore matches."""
    for n in range(20):
        (tree / f"pkg{n}" / f"trace{n}.log").write_text("tracked though ignored\n")
    subprocess.run(["git", "init", "-q", str(tree)], check=True)
    subprocess.run([*GIT, "-C", str(tree), "add", "-A"], check=True)
    logs = [f"pkg{n}/trace{n}.log" for n in range(20)]
    subprocess.run([*GIT, "-C", str(tree), "add", "-f", *logs], check=True)
    subprocess.run([*GIT, "-C", str(tree), "commit", "-q", "-m", "tree"], check=True)


def run(tmp: Path, files: int, rounds: int, repository: bool = False) -> None:
    tree, shadow = tmp / "tree", tmp / "shadow.git"
    tree.mkdir()
    count, total = generate(tree, files)
    if repository:
        make_repository(tree)
    modules = sorted(tree.rglob("module*.py"))[::7]
    subprocess.run(["git", "init", "-q", "--bare", str(shadow)], check=True)

    session_path = tmp / "sessions" / "0123456789abc.sqlite"
    session = Session.create(session_path, workspace_root=tree)
    session.close()
    empty = disk_bytes(session_path.parent)
    session = Session.open(session_path, writer=True)
    tracker = Tracker(session, tree)
    ours_first = timed(lambda: tracker.checkpoint(session.prompts.add("first").id))
    session.close()  # folds the WAL into the file: what stays on disk
    ours_size = disk_bytes(session_path.parent) - empty
    git_first = timed(lambda: snapshot(shadow, tree))
    git_size = disk_bytes(shadow / "objects")
    session = Session.open(session_path, writer=True)  # as a resumed session would
    tracker = Tracker(session, tree)

    rows: dict[str, list[float]] = {k: [] for k in ("ckpt", "git_noop", "before", "after", "git_snap",
                                                     "rollback", "git_restore")}
    for round_no in range(rounds):
        prompt = session.prompts.add(f"round {round_no}")
        rows["ckpt"].append(timed(lambda: tracker.checkpoint(prompt.id)))  # noqa: B023
        rows["git_noop"].append(timed(lambda: snapshot(shadow, tree)))
        earlier = head(shadow)
        rows["before"].append(timed(tracker.before_shell))
        change_ten(tree, modules, round_no)
        if repository:  # the index changes too: the scan after the command reads it again
            edited = os.fspath(modules[round_no * 8].relative_to(tree))
            subprocess.run([*GIT, "-C", str(tree), "add", edited], check=True)
        rows["after"].append(timed(lambda: tracker.after_shell(None, None)))
        rows["git_snap"].append(timed(lambda: snapshot(shadow, tree)))
        result = None

        def ours() -> None:
            nonlocal result
            result = rollback(session, tree, conversation=False)

        rows["rollback"].append(timed(ours))
        assert result is not None and len(result.restored) + len(result.removed) == 10, result
        undo_last_rollback(session, tree)
        tracker.reload()  # a rollback in the same process: the tracker reads the baseline again
        assert tracker.baseline
        rows["git_restore"].append(timed(lambda: git(shadow, tree, "reset", "-q", "--hard", earlier)))  # noqa: B023
    session.close()
    if not report(count, total, ours_first, ours_size, git_first, git_size, rows):
        raise SystemExit(1)


def report(count: int, total: int, ours_first: float, ours_size: int, git_first: float, git_size: int,
           rows: dict[str, list[float]]) -> bool:
    """Print the table; return True when every target is met."""
    med = {k: statistics.median(v) for k, v in rows.items()}
    targets = [
        ("first checkpoint below shadow git's first snapshot", ours_first < git_first),
        ("scan+diff after a command below a shadow-git snapshot", med["after"] < med["git_snap"]),
        ("rollback at least 4x faster than shadow git's restore", med["git_restore"] >= 4 * med["rollback"]),
    ]
    lines = [
        f"tree: {count:,} files, {total / 1e6:.1f} MB; medians of {len(rows['ckpt'])} rounds",
        "",
        f"{'step':46} {'agentcli':>12} {'shadow git':>12} {'ratio':>7}",
        _row("first checkpoint / first snapshot", ours_first, git_first, "ms"),
        _row("  on disk: session file growth / objects", ours_size / 1e6, git_size / 1e6, "MB"),
        _row("later checkpoint / snapshot, nothing changed", med["ckpt"], med["git_noop"], "ms"),
        _row("scan before a command (before_shell)", med["before"], None, "ms"),
        _row("scan+diff+log after it, 10 files / snapshot", med["after"], med["git_snap"], "ms"),
        _row("rollback of the 10 changes / reset --hard", med["rollback"], med["git_restore"], "ms"),
        "",
        *(f"{'met ' if met else 'MISSED'} {label}" for label, met in targets),
    ]
    print("\n".join(lines))
    return all(met for _label, met in targets)


def _row(label: str, ours: float, theirs: float | None, unit: str) -> str:
    theirs_text = f"{theirs:>9.1f} {unit}" if theirs is not None else f"{'':>12}"
    ratio = f"{theirs / ours:>6.1f}x" if theirs else ""
    return f"{label:46} {ours:>9.1f} {unit} {theirs_text} {ratio}"


if __name__ == "__main__":
    if shutil.which("git") is None:
        raise SystemExit("git is needed for the shadow-git side of this benchmark")
    main()
