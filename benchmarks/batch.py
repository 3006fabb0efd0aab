"""Benchmark ``agentcli batch``: wall time of 32 one-call tasks on 8 workers, the overhead
agentcli adds per task, and the driver's memory against the number of queued tasks.

Run from the repository root (with agentcli installed)::

    python benchmarks/batch.py    # 32 tasks of a 1 s model call, --workers 8; memory at 32 / 1,000 / 10,000
    python benchmarks/batch.py --runs 3 --delay 1.0 --tasks 32 --workers 8

Every task is a repo task (its own git worktree of one repository) answered by the local
scripted server (``tests/openai_server.py``) after ``--delay`` seconds.

- **(a) wall**: ``agentcli batch TASKS --workers 8 -p`` as a subprocess, from its start to
  its exit (driver start-up, worktrees, sessions and results included). Target (issue 25):
  at most 1.5x of ceil(tasks / workers) x delay.
- **(b) per task**, from the batch file and the server's request log: an attempt's whole
  time less the model's delay; of it, start → first request (worktree + process +
  session creation), and last answer → recorded (process exit + reading the session
  file + writing the outcome). These wait for a CPU on a busy machine; the CPU time per
  task does not: the task processes' (the forkserver's reaped children, from ``/proc``)
  and the driver's with its git commands. Besides, in this process: one ``git worktree
  add``, and reading one finished session's outcome (tokens, cost, diff).
- **(c) memory**: the driver's peak RSS (``VmHWM``) once 16 tasks are done, with 32,
  1,000 and 10,000 tasks queued (then it is stopped with SIGTERM). Target: flat — the
  largest within 1.2x of the smallest (the queue is the batch file, not a list in memory).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from openai_answers import text_answer  # noqa: E402
from openai_server import ScriptedOpenAIServer  # noqa: E402

MEMORY_CASES = (32, 1_000, 10_000)
MEMORY_DONE = 16


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "README.md").write_text("hello\n")
    git = ["git", "-c", "user.name=b", "-c", "user.email=b@b", "-C", str(path)]
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return path


def tasks_file(folder: Path, count: int) -> Path:
    path = folder / f"tasks-{count}.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"task {n}: say hi", "repo": "repo"}) + "\n"
                            for n in range(count)))
    return path


def stamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def batch_file(folder: Path) -> Path:
    [path] = sorted((folder / ".agentcli" / "batches").glob("*.sqlite"), key=os.path.getmtime)[-1:]
    return path


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool) -> float | None:
    """A process's own CPU time, or (``children``) that of its children it has reaped."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    first = 13 if children else 11  # cutime, cstime / utime, stime (after pid and comm)
    return (int(fields[first]) + int(fields[first + 1])) / TICK


def forkserver_of(pid: int) -> int | None:
    """The multiprocessing forkserver the driver ``pid`` started."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if parent == pid and b"forkserver" in (entry / "cmdline").read_bytes():
                    return int(entry.name)
            except (OSError, ValueError, IndexError):
                continue
    return None


def run_wall(folder: Path, server: ScriptedOpenAIServer, env: dict[str, str], tasks: Path,
             workers: int) -> tuple[float, Path, float, float]:
    """One batch run: its wall time, its file, the CPU seconds of the driver and of the tasks."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "agentcli", "batch", str(tasks), "--workers", str(workers),
                             "--base-url", server.base_url, "-p"], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server_pid, driver_cpu, tasks_cpu = None, 0.0, 0.0
    while proc.poll() is None:
        server_pid = server_pid or forkserver_of(proc.pid)
        own, reaped = cpu_seconds(proc.pid, children=False), cpu_seconds(proc.pid, children=True)
        driver_cpu = own + (reaped or 0) if own is not None else driver_cpu  # reaped: its git commands
        if server_pid:
            tasks_cpu = cpu_seconds(server_pid, children=True) or tasks_cpu
        time.sleep(0.02)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"agentcli batch failed ({proc.returncode}):\n{proc.stderr.read()}")
    return wall, batch_file(folder), driver_cpu, tasks_cpu


def per_task(batch: Path, server: ScriptedOpenAIServer, delay: float) -> dict[str, float]:
    """Median ms per task: whole overhead, start → first request, last answer → recorded."""
    conn = sqlite3.connect(batch)
    attempts = conn.execute("SELECT a.started_at, a.finished_at, a.duration_ms, t.prompt FROM attempts a "
                            "JOIN tasks t ON t.id = a.task_id").fetchall()
    conn.close()
    requests: dict[str, list] = {}
    for request in server.requests:
        prompt = next(m["content"] for m in request.body["messages"] if m["role"] == "user")
        requests.setdefault(prompt, []).append(request)
    overhead, before, after = [], [], []
    for started, finished, duration, prompt in attempts:
        sent = requests.get(prompt) or requests.get(prompt + "\n") or []
        if not sent:
            continue
        overhead.append(duration - delay * 1000)
        before.append((sent[0].arrived_at - stamp(started)) * 1000)
        after.append((stamp(finished) - (sent[-1].answered_at or sent[-1].arrived_at)) * 1000)
    return {"overhead": statistics.median(overhead), "before": statistics.median(before),
            "after": statistics.median(after)}


def in_process_costs(folder: Path, batch: Path) -> dict[str, float]:
    """ms of one ``git worktree add`` and of reading one session's outcome, in this process."""
    from agentcli.batch.outcome import outcome_of
    from agentcli.batch.repos import ensure_worktree

    conn = sqlite3.connect(batch)
    session, commit = conn.execute("SELECT session_path, commit_sha FROM tasks LIMIT 1").fetchone()
    clone = conn.execute("SELECT clone_path FROM repos").fetchone()[0]
    conn.close()
    adds, reads = [], []
    for n in range(5):
        started = time.perf_counter()
        ensure_worktree(Path(clone), folder / "extra" / str(n), commit)
        adds.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        outcome_of(0, [], Path(session))
        reads.append((time.perf_counter() - started) * 1000)
    return {"worktree": statistics.median(adds), "outcome": statistics.median(reads)}


def peak_rss_mb(folder: Path, server: ScriptedOpenAIServer, env: dict[str, str], tasks: Path) -> float:
    """The driver's peak RSS once MEMORY_DONE tasks are done (then it is stopped)."""
    before = set((folder / ".agentcli" / "batches").glob("*.sqlite"))
    proc = subprocess.Popen([sys.executable, "-m", "agentcli", "batch", str(tasks), "--workers", "8",
                             "--base-url", server.base_url, "-p"], cwd=folder, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0.0
    try:
        until = time.monotonic() + 600
        while time.monotonic() < until and proc.poll() is None:
            new = set((folder / ".agentcli" / "batches").glob("*.sqlite")) - before
            if new:
                conn = sqlite3.connect(f"file:{next(iter(new))}?mode=ro", uri=True)
                try:
                    done = conn.execute("SELECT count(*) FROM tasks WHERE status = 'done'").fetchone()[0]
                except sqlite3.Error:
                    done = 0
                conn.close()
                status = Path(f"/proc/{proc.pid}/status").read_text()
                peak = int(next(line.split()[1] for line in status.splitlines()
                                if line.startswith("VmHWM"))) / 1024
                if done >= MEMORY_DONE:
                    break
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    return peak


def main() -> int:
    """Run (a), (b), (c); print the table; exit 1 if a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of (a) (median shown)")
    parser.add_argument("--delay", type=float, default=1.0, help="seconds each model call takes")
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--workers", type=int, default=8)
    options = parser.parse_args()
    delay = options.delay
    with tempfile.TemporaryDirectory() as tmp, ScriptedOpenAIServer() as server:
        folder = Path(tmp)
        make_repo(folder / "repo")
        config = folder / "config" / "agentcli"
        config.mkdir(parents=True)
        (config / "config.toml").write_text("retry_max_wait = 0.5\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTCLI_"))}
        env.update({"XDG_CONFIG_HOME": str(config.parent), "OPENAI_API_KEY": "sk-bench"})
        server.answer_with(lambda body: text_answer("hi", delay=delay))
        tasks = tasks_file(folder, options.tasks)
        walls, details, cpus = [], [], []
        for _ in range(options.runs):
            server.requests.clear()
            wall, batch, driver_cpu, tasks_cpu = run_wall(folder, server, env, tasks, options.workers)
            walls.append(wall)
            details.append(per_task(batch, server, delay))
            cpus.append((driver_cpu, tasks_cpu))
        costs = in_process_costs(folder, batch)
        server.answer_with(lambda body: text_answer("hi"))
        memory = {n: peak_rss_mb(folder, server, env, tasks_file(folder, n)) for n in MEMORY_CASES}
    ideal = math.ceil(options.tasks / options.workers) * delay
    wall = statistics.median(walls)
    rows = [
        (f"(a) {options.tasks} tasks x {delay:g} s, --workers {options.workers}: wall",
         f"{wall:.2f} s ({wall / ideal:.2f}x of {ideal:g} s)", f"<= {1.5 * ideal:g} s", wall <= 1.5 * ideal),
    ]
    for key, label in (("overhead", "per task: attempt less the model's delay"),
                       ("before", "  of it: start -> first request (worktree, process, session)"),
                       ("after", "  of it: last answer -> recorded (exit, outcome, batch file)")):
        rows.append((f"(b) {label}", f"{statistics.median(d[key] for d in details):.0f} ms", "report", True))
    driver_cpu = statistics.median(c[0] for c in cpus) * 1000 / options.tasks
    tasks_cpu = statistics.median(c[1] for c in cpus) * 1000 / options.tasks
    rows.append(("(b) CPU per task: its agentcli process (fork to exit)", f"{tasks_cpu:.0f} ms", "report",
                 True))
    rows.append(("(b) CPU per task: the driver and its git (worktree, outcome)", f"{driver_cpu:.0f} ms",
                 "report", True))
    rows.append(("(b) in process: one git worktree add", f"{costs['worktree']:.0f} ms", "report", True))
    rows.append(("(b) in process: read one session's outcome", f"{costs['outcome']:.1f} ms", "report", True))
    low, high = min(memory.values()), max(memory.values())
    for count, peak in memory.items():
        rows.append((f"(c) driver peak RSS, {count:,} tasks queued", f"{peak:.1f} MB", "flat", True))
    rows.append(("(c) largest / smallest", f"{high / low:.2f}x", "<= 1.2x", high / low <= 1.2))
    width = max(len(r[0]) for r in rows)
    print(f"{'measure'.ljust(width)}  {'result':<26}  {'target':<9}  ok")
    for name, result, target, ok in rows:
        print(f"{name.ljust(width)}  {result:<26}  {target:<9}  {'yes' if ok else 'NO'}")
    print(f"(a) runs: {', '.join(f'{w:.2f}' for w in walls)} s; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
