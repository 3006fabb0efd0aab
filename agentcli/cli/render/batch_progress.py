"""How a running batch is shown: JSON events, one line per task, or a live terminal display.

All three are fed by the batch's one stream of events (``batch.started``,
``task.started``, ``task.finished``, ``batch.finished``), called from several worker
threads (the scheduler serialises them).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

from agentcli.agent.events import Event
from agentcli.agent.pricing import dollars
from agentcli.batch.report import seconds
from agentcli.cli.render.text import clean, excerpt


class Tally:
    """Counts, cost and timing of a run, from its events; the ETA from its pace so far."""

    def __init__(self) -> None:
        self.total = 0
        self.counts: dict[str, int] = {}
        self.running: dict[str, float] = {}
        self.cost = 0.0
        self.started = time.monotonic()
        self.finished_now = 0  # tasks finished by this run (the pace is measured on them)
        self.workers = 1

    def take(self, event: Event) -> None:
        """Update from one event."""
        data = event.data
        if event.type == "batch.started":
            self.total, self.workers = data["tasks"], max(1, data.get("workers") or 1)
            self.counts = dict(data["counts"])
            self.counts["queued"] = self.counts.get("queued", 0) + self.counts.pop("running", 0)
        elif event.type == "task.started":
            self.running[data["task"]] = time.monotonic()
        elif event.type == "task.finished":
            self.running.pop(data["task"], None)
            self.finished_now += 1
            self.cost = data.get("batch_cost_usd") or self.cost

    def counts_now(self, finished: dict[str, int]) -> dict[str, int]:
        """Counts with the running tasks taken out of the queue."""
        return {**finished, "running": len(self.running)}

    def eta(self, left: int) -> float | None:
        """Seconds until the tasks ``left`` are done at this run's pace (None before one finished)."""
        if not self.finished_now or not left:
            return None
        return (time.monotonic() - self.started) / self.finished_now * left


def json_sink(event: Event) -> None:
    """``--json``: one event a line on stdout."""
    sys.stdout.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
    sys.stdout.flush()


class LinePrinter:
    """``-p`` and CI: the batch's id first, then one line per task as it finishes (stderr)."""

    def __init__(self) -> None:
        self.done = 0
        self.total = 0

    def __call__(self, event: Event) -> None:
        data = event.data
        if event.type == "batch.started":
            self.total = data["tasks"]
            self.done = sum(data["counts"].get(status, 0) for status in ("done", "failed", "denied"))
            resumed = f", resuming {len(data['interrupted'])} interrupted" if data.get("interrupted") else ""
            _err(f"batch {data['batch']}: {data['tasks']} tasks, {_workers(data)} "
                 f"({data['runner']}){resumed}")
        elif event.type == "task.finished":
            if data["status"] in ("done", "failed", "denied"):
                self.done += 1
            _err(task_line(data, self.done, self.total))


def task_line(data: dict[str, Any], done: int, total: int) -> str:
    """``[3/12] t4 done · $0.0012 · 5 turns · 2 files · 3.4s`` (and the error when it failed)."""
    parts = [f"[{done}/{total}] {data['task']} {data['status']}"]
    for value in (dollars(data.get("cost_usd")),
                  _count(data.get("turns"), "turn"), _count(data.get("files_changed"), "file"),
                  seconds(data.get("duration_ms"))):
        if value:
            parts.append(value)
    line = " · ".join(parts)
    if data["status"] != "done" and data.get("error"):
        line += f" — {excerpt(data['error'], 160)}"
    return line


class LiveDisplay:
    """A terminal: finished tasks scroll by above a live footer (done / running / failed,
    cost so far, ETA) redrawn four times a second."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console(stderr=True, highlight=False)
        self.tally = Tally()
        self.lines = LinePrinter()
        self._finished: dict[str, int] = {}
        self._lock = threading.Lock()
        self.live = Live(console=self.console, refresh_per_second=4, transient=True,
                         get_renderable=self.footer)

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.tally.take(event)
            if event.type == "batch.started":
                self._finished = {k: v for k, v in event.data["counts"].items() if k != "running"}
                self.lines.total = event.data["tasks"]
                self.console.print(f"batch {event.data['batch']}: {event.data['tasks']} tasks, "
                                   f"{_workers(event.data)} ({event.data['runner']})", markup=False)
                self.live.start()
            elif event.type == "task.started":
                self._move(event.data["task"], None)
            elif event.type == "task.finished":
                self._move(None, event.data["status"])
                self.lines.done += event.data["status"] in ("done", "failed", "denied")
                self.console.print(clean(task_line(event.data, self.lines.done, self.lines.total)),
                                   markup=False)
            elif event.type == "batch.finished":
                self.live.stop()

    def _move(self, started: str | None, finished: str | None) -> None:
        if started is not None:
            for status in ("interrupted", "queued"):
                if self._finished.get(status):
                    self._finished[status] -= 1
                    break
        if finished is not None:
            self._finished[finished] = self._finished.get(finished, 0) + 1

    def footer(self) -> Any:
        """The live line: ``5 done · 3 running · 1 failed · 3 queued · $0.0123 · ETA 20.0s``."""
        from rich.text import Text

        counts = self.tally.counts_now(self._finished)
        left = counts.get("queued", 0) + counts.get("interrupted", 0) + counts["running"]
        eta = self.tally.eta(left)
        shown = [f"{counts.get(s, 0)} {s}" for s in ("done", "running", "failed", "denied", "queued")
                 if counts.get(s) or s in ("done", "running")]
        text = " · ".join(shown) + f" · {dollars(self.tally.cost) or '$0'}"
        text += f" · ETA {seconds(int(eta * 1000))}" if eta is not None else ""
        return Text(text, style="bold")

    def stop(self) -> None:
        """Take the footer down (also after an error)."""
        self.live.stop()


def _workers(data: dict[str, Any]) -> str:
    return f"{data['workers']} workers" if data.get("workers") else "as many at once as the cluster has CPUs"


def _count(number: int | None, noun: str) -> str:
    return "" if number is None else f"{number} {noun}{'' if number == 1 else 's'}"


def _err(line: str) -> None:
    sys.stderr.write(f"agentcli: {clean(line)}\n")
    sys.stderr.flush()
