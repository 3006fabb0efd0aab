"""Benchmark long sessions (issue 13): request size, the cost of the next request, cacheable prefix.

Run from the repository root (with agentcli installed)::

    python benchmarks/context.py             # 10, 100, 1,000 and 10,000 steps
    python benchmarks/context.py --quick     # 10, 100 and 1,000 steps
    python benchmarks/context.py --window 32000 --file-chars 3000

One session grows through the real agent loop (``AgentLoop``, the real tool runner
reading a workspace file at each step, the real compactor) driven by an in-process
model that answers every turn with one more ``read_file`` and every summarising call
with a short summary. At each size it prints:

- **largest request**: the biggest request of the growth up to that size, in tokens by
  agentcli's estimate (which sizes the request before sending) and by JSON characters
  / 4; target: under the window;
- **open + build**: ``Session.open`` (as a reader: the loop holds the writer lock) plus building the
  next request's context, median of ``--runs``, and its ratio to the 10-step session;
  target: within 2x;
- **prefix share**: over consecutive requests with no compaction between them, the
  share of each request (tools and messages, as JSON characters) that repeats the
  previous request's prefix — the part a prompt cache serves; weighted by size and
  the smallest; target: weighted ≥ 90%.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from store import median_ms  # benchmarks/ is on sys.path when this runs as a script

from agentcli.agent.approval import Approver
from agentcli.agent.cancel import NEVER, CancelToken
from agentcli.agent.compaction import COMPACTOR_SYSTEM
from agentcli.agent.context import ContextBuilder, ContextSettings, tools_tokens
from agentcli.agent.loop import AgentLoop
from agentcli.agent.model.protocol import Attempt, AttemptLog
from agentcli.agent.model.reply import ModelReply, reply_from_response
from agentcli.agent.runner import ToolRunner
from agentcli.agent.tools.registry import default_registry
from agentcli.agent.workspace.jail import Workspace
from agentcli.session.directory import SessionDirectory
from agentcli.session.records import ORCHESTRATOR
from agentcli.session.session import Session

SYSTEM = "You are agentcli, a coding agent. " * 60  # about a real system prompt's size
PROMPT = "Read the modules one after another and keep notes of what each one defines."


class ReadingModel:
    """Answers each turn with one more ``read_file`` and each summarising call with a summary.

    It measures what a prompt cache could serve as requests arrive: for each turn request
    following another with no summarising call between, the JSON characters of the
    leading messages (tools first) it repeats from the previous one.
    """

    name = "bench"
    endpoint_host = "in-process"

    def __init__(self, files: int):
        self.files = files
        self.step = 0
        self.previous: list[str] | None = None
        self.shared = self.total = 0
        self.smallest = 1.0
        self.largest = 0  # JSON characters / 4 of the biggest request

    def _measure(self, summary: bool, messages: list[str]) -> None:
        size = sum(len(m) for m in messages)
        self.largest = max(self.largest, size // 4)
        if summary:
            self.previous = None
            return
        if self.previous is not None:
            same = 0
            for a, b in zip(self.previous, messages):
                if a != b:
                    break
                same += len(a)
            self.shared, self.total = self.shared + same, self.total + size
            self.smallest = min(self.smallest, same / size)
        self.previous = messages

    def share(self) -> float:
        """The weighted share of requests that repeated the previous request's prefix."""
        return self.shared / self.total if self.total else 1.0

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
                 log: AttemptLog | None = None, on_text: Callable[[str], None] | None = None,
                 cancel: CancelToken | None = None) -> ModelReply:
        summary = messages[0]["content"].startswith(COMPACTOR_SYSTEM[:40])
        self._measure(summary, [json.dumps(tools)] + [json.dumps(m) for m in messages])
        if summary:
            message: dict[str, Any] = {"role": "assistant",
                                       "content": "Read modules so far; each defines a Module class. " * 8}
        else:
            self.step += 1
            arguments = json.dumps({"path": f"m{self.step % self.files}.py"})
            message = {"role": "assistant", "content": "", "tool_calls": [
                {"id": f"s{self.step}", "type": "function", "function": {"name": "read_file",
                                                                          "arguments": arguments}}]}
        response = {"id": "bench", "object": "chat.completion", "model": self.name,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
        reply = reply_from_response(response)
        attempt = Attempt(0, {"model": self.name}, self.name, self.endpoint_host, time.time())
        if log is not None:
            log.started(attempt)
            attempt.response, attempt.http_status, attempt.latency_ms = response, 200, 0
            log.ended(attempt, reply)
        return reply

    def close(self) -> None:
        """Nothing to release."""




def open_and_build(path: Path, settings: ContextSettings, tools: int) -> None:
    """What the next request costs from cold: open the file, build the context. (As a reader:
    the growing session holds the writer lock; taking it is a constant cost.)"""
    with Session.open(path, writer=False) as session:
        ContextBuilder(session, ORCHESTRATOR, settings).build(tools)


def grow(folder: Path, window: int, file_chars: int, sizes: list[int], runs: int) -> bool:
    """Grow one session through ``sizes`` steps with this window; print a row per size."""
    workspace = folder / "ws"
    workspace.mkdir()
    for n in range(20):
        line = f"    field_{n} = {n}  # a line of module {n}\n"
        (workspace / f"m{n}.py").write_text(f"class Module{n}:\n" + line * (file_chars // len(line)))
    session = SessionDirectory(folder / "sessions").create(workspace_root=workspace, system=SYSTEM)
    session.transcript.append("user", PROMPT, agent=ORCHESTRATOR)
    model = ReadingModel(20)
    toolbox = default_registry(Workspace(workspace, protected=[folder / "sessions"]))
    runner = ToolRunner(session, ORCHESTRATOR, toolbox, Approver("full-auto", None), None, lambda e: None)
    settings = ContextSettings(window=window)
    loop = AgentLoop(session, ORCHESTRATOR, model, runner, lambda e: None, context_window=window,
                     context=settings)
    tools = tools_tokens(runner.schemas())
    print(f"\nwindow {window:,} tokens, compact_at {settings.compact_at}, files of {file_chars:,} "
          "characters; one step = a read_file call and its result")
    print(f"{'steps':>7} {'messages':>9} {'largest (est)':>14} {'largest (json/4)':>17} "
          f"{'open+build ms':>14} {'ratio':>6} {'prefix share':>13} {'min':>6} {'compactions':>12}")
    base_ms = None
    done = 0
    ok = True
    for size in sizes:
        while done < size:
            loop.ask(None, NEVER)
            runner.run_calls(session.transcript.last(ORCHESTRATOR), None, NEVER)
            done += 1
        largest_est = session.db.scalar("SELECT max(estimated_tokens) FROM model_calls")
        ms = median_ms(runs, lambda: open_and_build(session.path, settings, tools))
        opening = median_ms(runs, lambda: Session.open(session.path, writer=False).close())
        base_ms = base_ms or ms
        compactions = session.db.scalar("SELECT count(*) FROM compactions WHERE status = 'done'")
        print(f"{size:>7,} {session.transcript.count():>9,} {largest_est:>14,} {model.largest:>17,} "
              f"{ms:>14.2f} {ms / base_ms:>5.2f}x {model.share():>12.1%} {model.smallest:>6.1%} "
              f"{compactions:>12,}   (open alone {opening:.2f} ms)")
        ok = ok and largest_est <= window and model.largest <= window
        ok = ok and ms <= 2 * base_ms and model.share() >= 0.9
    session.close()
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="stop at 1,000 steps")
    parser.add_argument("--window", type=int, action="append",
                        help="context window in tokens (repeatable; default 16000, 32000 and 128000)")
    parser.add_argument("--file-chars", type=int, default=3_000, help="size of each file read")
    parser.add_argument("--runs", type=int, default=30, help="runs of open + build per size")
    args = parser.parse_args(argv)
    sizes = [10, 100, 1_000] if args.quick else [10, 100, 1_000, 10_000]
    results = {}
    for window in args.window or [16_000, 32_000, 128_000]:
        folder = Path(tempfile.mkdtemp(prefix="agentcli-bench-context-"))
        try:
            results[window] = grow(folder, window, args.file_chars, sizes, args.runs)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    print("\ntargets: largest request under the window; open + build within 2x of 10 steps; "
          "prefix share >= 90% between compactions")
    for window, ok in results.items():
        print(f"  window {window:,}: {'met' if ok else 'MISSED'}")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
