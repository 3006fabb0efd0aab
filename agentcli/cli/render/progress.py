"""What a person is told while a run goes on, around the event printer: retries once, errors once.

After an ``update_plan`` call it shows the plan itself, not only "Plan updated:".

A refused connection used to print "retrying (attempt N)" five times over half a minute
and say nothing of why. :class:`Progress` tells each retry in one line saying why and how
long until the next attempt; the first also names the endpoint and the schedule of the
retries to come. In a scripted run it also leaves the orchestrator's error to the run's last line
(``finish``), so an error is printed once, not as ``error:`` and ``agentcli:``.
"""

from __future__ import annotations

from typing import IO, Any

from agentcli.agent.events import Event, EventSink
from agentcli.agent.model.endpoint import LOCAL_REFUSED_WAITS
from agentcli.cli.render.events import printable
from agentcli.session.records import ORCHESTRATOR


def retry_schedule(attempts: int, cap: float) -> tuple[float, float]:
    """The least and most seconds the retries after a first failure wait in all, with the
    model client's back-off (1, 2, 4 ... s plus up to 1 s of jitter, each capped at ``cap``).

    Example:
        >>> retry_schedule(6, 60)
        (31.0, 36.0)
    """
    waits = [2.0 ** n for n in range(max(attempts - 1, 0))]
    return sum(min(w, cap) for w in waits), sum(min(w + 1, cap) for w in waits)


def plan_lines(items: list[dict[str, Any]]) -> list[str]:
    """The plan as the person sees it after each ``update_plan``: ``    [x] title``."""
    from agentcli.session.records import PLAN_MARKS

    return [f"    {PLAN_MARKS.get(item.get('status', ''), '[?]')} {item.get('title', '')}" for item in items]


class Progress:
    """Wraps an event printer: condenses retries, and (``own_errors=False``) drops the
    orchestrator's ``error`` events that the caller reports itself."""

    def __init__(self, printer: Any, file: IO[str], *, attempts: int, cap: float, own_errors: bool = True):
        self.printer: EventSink = printer
        self.console = getattr(printer, "console", None)
        self.file = file
        self.attempts = attempts
        self.cap = cap
        self.own_errors = own_errors

    def __call__(self, event: Event) -> None:
        data = event.data
        if event.type == "model.retry":
            self._say(self.retry_line(data))
            return
        if event.type == "error" and not self.own_errors and data.get("agent", ORCHESTRATOR) == ORCHESTRATOR:
            return
        self.printer(event)
        if event.type == "tool.finished" and data.get("name") == "update_plan" and data.get("items"):
            for line in plan_lines(data["items"]):
                self._say(line, style="dim")

    def retry_line(self, data: dict[str, Any]) -> str:
        """One line a retry, e.g. ``model call to HOST failed (connection error: ...); retrying
        in 1.3 s, up to 5 more times over 31-36 s (Ctrl-C stops)``, then ``... failed again
        (...); retrying in 4.2 s (attempt 3 of 6)``."""
        number = int(data.get("attempt") or 1)
        who = f" [{data['agent']}]" if data.get("agent", ORCHESTRATOR) != ORCHESTRATOR else ""
        error = data.get("reason") or data.get("error")
        why = f" ({error})" if error else ""
        wait = data.get("wait_s")
        when = f"in {wait:g} s" if isinstance(wait, (int, float)) else "now"
        if number > 1:
            return (f"model call{who} failed again{why}; retrying {when} "
                    f"(attempt {number + 1} of {data.get('attempts') or self.attempts})")
        allowed = int(data.get("attempts") or self.attempts)
        left = allowed - 1
        low, high = retry_schedule(self.attempts, self.cap)
        if allowed < self.attempts:  # a local endpoint refused: its short schedule
            low = high = sum(min(wait, self.cap) for wait in LOCAL_REFUSED_WAITS[:left])
        return (f"model call{who} to {data.get('endpoint') or 'the endpoint'} failed{why}; retrying "
                f"{when}, up to {left} more time{'s' if left != 1 else ''} over {low:g}-{high:g} s "
                "(Ctrl-C stops)")

    def _say(self, text: str, style: str = "yellow") -> None:
        if self.console is not None:
            self.console.print(printable(text), style=style)  # a plan's titles are the model's
        else:
            self.file.write(printable(text) + "\n")  # an endpoint's error may hold anything
            self.file.flush()
