"""The scouts of a fan-out, as people see them: a live table in a terminal, lines otherwise.

:class:`ScoutBoard` keeps one row per scout (task, steps, status, elapsed, what it is
doing) from the ``scouts.*`` / ``scout.*`` events. On a terminal (``-p`` with stderr a
terminal) the table is redrawn in place by a :class:`rich.live.Live` (a few times a
second, so elapsed times move even while nothing happens); when it is not a terminal,
each scout gets one line when it starts and one when it finishes. The interactive
terminal draws the table in its own live area instead (``quiet``: no Live, no lines).

The table fits the width (:mod:`agentcli.cli.render.fit`): the scout ids and statuses are
never cut, the task column gives way first, then what each scout is doing; past that the
number, the elapsed time, the step count, what it is doing and the task are left out, in
that order.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from agentcli.cli.render.fit import Column, fit_cells, fit_table

_STYLES = {"queued": "dim", "running": "cyan", "done": "green", "failed": "red", "interrupted": "yellow"}
COLUMNS = (Column("#", right=True, drop=0), Column("scout", essential=True),
           Column("task", cut=True, give=0, drop=4, least=12), Column("steps", right=True, drop=2),
           Column("status", essential=True), Column("elapsed", right=True, drop=1),
           Column("doing", cut=True, give=1, drop=3, least=10, style="dim"))


@dataclass
class _Row:
    id: str
    task: str
    status: str = "queued"
    steps: int = 0
    activity: str = ""
    started: float | None = None
    duration_ms: int | None = None

    def elapsed(self) -> str:
        if self.duration_ms is not None:
            return f"{self.duration_ms / 1000:.1f}s"
        if self.started is None:
            return "-"
        return f"{time.monotonic() - self.started:.1f}s"


class ScoutBoard:
    """Shows the scouts of running fan-outs on ``console``.

    Example:
        >>> board = ScoutBoard(console, live=console.is_terminal)
        >>> board.on_event("scouts.started", {"scouts": [{"id": "scout-4-1", "task": "find X"}]})
    """

    def __init__(self, console: Console, *, live: bool, quiet: bool = False):
        self.console = console
        self.live = live and not quiet
        self.quiet = quiet
        self._rows: dict[str, _Row] = {}
        self._open = 0  # fan-outs running (a scout's own fan-out nests inside its parent's)
        self._lock = threading.Lock()  # the Live refresh thread reads the rows too
        self._display: Live | None = None

    def on_event(self, kind: str, data: dict[str, Any]) -> None:
        """Take one ``scouts.*`` or ``scout.*`` event."""
        handler = getattr(self, "_" + kind.replace(".", "_"), None)
        if handler is None:
            return
        with self._lock:
            handler(data)
        if self.quiet:
            return
        # Live is started and stopped outside the lock: its refresh thread takes the lock to draw.
        if self.live and self._open and self._display is None:
            self._display = Live(_Renderable(self), console=self.console, refresh_per_second=4,
                                 transient=False)
            self._display.start()
        elif self._display is not None and not self._open:
            self._display.stop()  # the last drawing of the table stays on screen
            self._display = None

    def _scouts_started(self, data: dict[str, Any]) -> None:
        if not self._open:
            self._rows.clear()  # a new fan-out of the orchestrator: a new table
        for scout in data.get("scouts", []):
            status = scout.get("status", "queued")
            self._rows.setdefault(scout["id"], _Row(scout["id"], scout["task"], status))
        self._open += 1

    def _scout_started(self, data: dict[str, Any]) -> None:
        row = self._rows.setdefault(data["id"], _Row(data["id"], data["task"]))
        row.status, row.started, row.steps = "running", time.monotonic(), data.get("steps", 0)
        row.duration_ms = None
        if not self.live and not self.quiet:
            again = " (resumed)" if data.get("resumed") else ""
            self._print(f"  scout {row.id} started{again}: {_short(row.task)}", "cyan")

    def _scout_progress(self, data: dict[str, Any]) -> None:
        row = self._rows.get(data["id"])
        if row is not None:
            row.steps = data.get("steps", row.steps)
            row.activity = data.get("activity", row.activity)

    def _scout_finished(self, data: dict[str, Any]) -> None:
        row = self._rows.setdefault(data["id"], _Row(data["id"], data["task"]))
        row.status, row.steps, row.duration_ms = data["status"], data["steps"], data.get("duration_ms")
        row.activity = data.get("error") or ""
        if not self.live and not self.quiet:
            why = f": {_short(data['error'], 120)}" if data.get("error") else ""
            steps = f"{row.steps} step{'' if row.steps == 1 else 's'}"
            self._print(f"  scout {row.id} {row.status} · {steps} · {row.elapsed()}{why}",
                        _STYLES.get(row.status))

    def _scouts_finished(self, data: dict[str, Any]) -> None:
        self._open = max(0, self._open - 1)

    @property
    def running(self) -> bool:
        """Whether a fan-out is under way."""
        return self._open > 0

    def stop(self) -> None:
        """The turn ended: no fan-out is under way any more, whatever its events said."""
        with self._lock:
            self._open = 0
        if self._display is not None:
            self._display.stop()
            self._display = None

    def _print(self, text: str, style: str | None) -> None:
        self.console.print(Text(text, style=style or ""))

    def table(self, width: int | None = None, indent: int = 0, limit: int | None = None) -> Text:
        """The table as it stands now, in at most ``width`` cells (default: the console's);
        past ``limit`` rows, the running scouts first, then the queued, then a count of the rest."""
        with self._lock:
            rows = list(enumerate(self._rows.values(), 1))
        left_out: dict[str, int] = {}
        if limit is not None and len(rows) > limit:
            rank = {"running": 0, "queued": 1}
            ranked = sorted(rows, key=lambda pair: (rank.get(pair[1].status, 2), pair[0]))
            for _, row in ranked[limit - 1:]:
                left_out[row.status] = left_out.get(row.status, 0) + 1
            rows = sorted(ranked[: limit - 1], key=lambda pair: pair[0])
        cells = [[str(number), row.id, _short(row.task, 200), str(row.steps),
                  Text(row.status, style=_STYLES.get(row.status, "")), row.elapsed(),
                  _short(row.activity, 200)] for number, row in rows]
        table = fit_table(COLUMNS, cells, width or self.console.width, indent=indent)
        if left_out:
            counts = ", ".join(f"{n} {status}" for status, n in left_out.items())
            more = fit_cells(f"… {sum(left_out.values())} more scouts: {counts}",
                             (width or self.console.width) - indent)
            table.append(f"\n{' ' * indent}{more}", style="dim")
        return table


class _Renderable:
    """Builds the table afresh each time Live draws it."""

    def __init__(self, board: ScoutBoard):
        self.board = board

    def __rich__(self) -> Text:
        return self.board.table()


def _short(text: str | None, limit: int = 80) -> str:
    line = " ".join((text or "").split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
