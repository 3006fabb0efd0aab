"""Benchmark resume: time from ``agentcli resume`` to the first model request, by session length.

Run from the repository root (with agentcli installed)::

    python benchmarks/resume.py            # 10 and 10,000 messages, 7 runs each
    python benchmarks/resume.py --runs 3

Each run starts ``agentcli resume ID "go on" -p`` as a subprocess against the local
scripted server (``tests/openai_server.py``) and measures from the spawn to the
moment the server receives the request. The target (issue 4): 10,000 messages within
2x of 10. A session that long has been compacted as it grew (issue 13), so the built
one carries a compaction summarising all but its last 40 turns, as a real one would.
"""

from __future__ import annotations

import argparse
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

from agentcli.session.directory import SessionDirectory  # noqa: E402

KEPT_TURNS = 40  # turns after the latest compaction: ~80 KB, well inside a 128k window
BODY = ("Here is what I found in the module and what I propose to change. " * 15)[:1000]


def build(workspace: Path, messages: int) -> str:
    """A session of ``messages`` ~1 KB messages (user/assistant pairs), idle, resumable."""
    folder = SessionDirectory(workspace / "sessions")
    session = folder.create(workspace_root=workspace, title=f"{messages} messages", model="bench")
    with session.transaction():
        session.transcript.append("system", "You are agentcli.", agent="orchestrator")
        users = []
        for index in range((messages - 1) // 2):
            prompt = session.prompts.add(f"prompt {index}")
            session.prompts.finish(prompt.id, "done")
            users.append(session.transcript.append("user", f"{index}: {BODY}", prompt_id=prompt.id,
                                                   agent="orchestrator"))
            session.transcript.append("assistant", f"{index}: {BODY}", prompt_id=prompt.id,
                                      agent="orchestrator")
        if len(users) > KEPT_TURNS:  # as a session that grew this long has: older turns summarised
            last = users[-KEPT_TURNS].id - 1
            session.compactions.begin("orchestrator", prompt_id=None, reason="auto", first=users[0].id,
                                      last=last, at=last, pinned=None, previous=None, tokens=None,
                                      status="done", summary="The user asked for small changes; all done.")
    session.close()
    return session.id


def time_to_first_request(server: ScriptedOpenAIServer, workspace: Path, session_id: str,
                          env: dict[str, str]) -> float:
    """Seconds from spawning ``agentcli resume`` to the server seeing its request."""
    server.requests.clear()
    server.script(text_answer("ok"))
    began = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "agentcli", "resume", session_id, "go on", "-p", "--base-url",
         server.base_url, "--approval", "full-auto"],
        cwd=workspace, env=env, capture_output=True, text=True, timeout=120,
    )
    if proc.returncode != 0:
        raise SystemExit(f"resume failed: {proc.stderr}")
    return server.requests[0].received_at - began


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10, 10_000])
    args = parser.parse_args()
    env = {**os.environ, "OPENAI_API_KEY": "bench"}
    results = {}
    with tempfile.TemporaryDirectory() as tmp, ScriptedOpenAIServer() as server:
        for size in args.sizes:
            workspace = Path(tmp) / f"ws{size}"
            workspace.mkdir()
            session_id = build(workspace, size)
            time_to_first_request(server, workspace, session_id, env)  # warm the file cache
            runs = [time_to_first_request(server, workspace, session_id, env) for _ in range(args.runs)]
            results[size] = statistics.median(runs) * 1000
    print(f"{'messages':>10} | {'resume → first request (median ms)':>36}")
    print(f"{'-' * 10}-+-{'-' * 36}")
    for size, ms in results.items():
        print(f"{size:>10,} | {ms:>36.1f}")
    smallest, largest = min(results), max(results)
    print(f"\nratio {largest:,} / {smallest:,} messages: {results[largest] / results[smallest]:.2f}x "
          "(target: within 2x)")


if __name__ == "__main__":
    main()
