"""Scouts: read-only sub-agents that run in parallel, each a conversation in the session file.

A ``scout`` tool call becomes a fan-out. Its scouts are journaled up-front (a ``scouts``
row and the opening system and user messages for each, in one transaction), so a
process killed at any moment leaves a fan-out that resume can finish. Each scout is an
:class:`~agentcli.agent.loop.AgentLoop` under its own agent id, on a worker thread, with
the read-only tools; at most ``parallel`` run at once across the whole session (a scout
that sends scouts of its own lends them its slot while it waits), the rest wait
``queued``. A scout's report is committed the moment its loop returns, and a scout that
is ``done`` or ``failed`` is never asked again: a resumed fan-out runs only the others,
each from its own recorded messages, then returns the complete result. A scout that
meets the run's spent budget (``--max-tokens``, ``--max-cost``) stops ``interrupted``, so
do the queued ones as they start, and the fan-out stops the run: resume goes on with them.

All writes go through the session's one connection, which serialises them (one
transaction at a time), so many scouts never meet "database is locked".

Example:
    >>> fanout = ScoutFanout(session, model, tools, emit, ScoutSettings(parallel=8))
    >>> tools.register(ScoutTool(fanout, depth=0))   # the orchestrator may now send scouts
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentcli.agent.approval import Approver
from agentcli.agent.budget import BudgetExceededError
from agentcli.agent.cancel import Cancelled, CancelToken
from agentcli.agent.errors import stops_run
from agentcli.agent.events import Event, EventSink
from agentcli.agent.loop import AgentLoop
from agentcli.agent.model.protocol import Model
from agentcli.agent.runner import ToolRunner
from agentcli.agent.tools.registry import ToolLimits, ToolOutput, ToolRegistry, one_line
from agentcli.agent.tools.scout import ScoutTool
from agentcli.errors import ModelEndpointError
from agentcli.session.records import ScoutRecord

if TYPE_CHECKING:
    from agentcli.session.session import Session

_WAKE_SECONDS = 0.05  # how often a scout waiting for a slot looks at its cancel token

SCOUT_SYSTEM_PROMPT = """\
You are a scout: a read-only helper sent by a coding agent to answer one task about the
repository at {root}. You can read (read_file, list_files, search{more}) but not change
anything or run commands. The agent that sent you sees only your final answer, not your
tool calls: look as much as the task needs, then answer with a concise, self-contained
report (facts, file paths with line numbers, short quotes of the code that matters). Say
plainly what you could not find. You have at most {steps} model calls.
"""


@dataclass(frozen=True)
class ScoutSettings:
    """How scouts run: at once (``parallel``), how deep, how long, how much they report."""

    parallel: int = 8  # scouts running at once in the whole session; more wait queued
    depth: int = 1  # 1: scouts may not send scouts; 2: theirs may not; ...
    max_steps: int = 20  # model calls per scout
    report_chars: int = 4000  # of each report in the tool result (head and tail kept)
    context_window: int = 128_000


class ScoutFanout:
    """Runs the scouts of ``scout`` calls for one session (thread-safe; one per session)."""

    def __init__(self, session: Session, model: Model, tools: ToolRegistry, emit: EventSink,
                 settings: ScoutSettings):
        self.session = session
        self.model = model
        self.tools = tools  # the session's tools; scouts get the read-only ones
        self.emit = emit
        self.settings = settings
        self._slots = threading.BoundedSemaphore(max(1, settings.parallel))
        self._local = threading.local()  # .holding: this thread runs a scout in a slot

    @property
    def max_steps(self) -> int:
        """Model calls per scout."""
        return self.settings.max_steps

    @property
    def parallel(self) -> int:
        """Scouts running at once."""
        return self.settings.parallel

    @property
    def limits(self) -> ToolLimits:
        """The tools' configured limits."""
        return self.tools.ctx.limits

    def registry(self, depth: int) -> ToolRegistry:
        """The tools of an agent at ``depth``: the readers, plus ``scout`` while deeper is allowed."""
        tools = self.tools.readers()  # read_file, list_files, search, and MCP tools that only read
        if depth < self.settings.depth:
            tools.register(ScoutTool(self, depth))
        return tools

    def run(self, parent_row: int, tasks: list[str], depth: int, cancel: CancelToken) -> ToolOutput:
        """Run (or finish) the fan-out of tool call ``parent_row``; every report, in task order.

        Raises ``Cancelled`` once every running scout has stopped; the unfinished ones
        are left for resume.
        """
        scouts = self._journal(parent_row, tasks, depth)
        call_id = scouts[0].call_id
        self.emit(Event("scouts.started", {
            "agent": scouts[0].parent_agent, "call": call_id, "depth": depth,
            "scouts": [{"id": s.agent, "task": s.task, "status": s.status} for s in scouts],
        }))
        todo = [s for s in scouts if not s.finished]
        stopped = None
        if todo:
            with self._lend_slot(cancel):
                stopped = self._run_all(todo, cancel)
        if cancel.cancelled and not cancel.resumable:
            self._settle(self.session.scouts.for_call(parent_row))
        scouts = self.session.scouts.for_call(parent_row)
        self.emit(Event("scouts.finished", {
            "agent": scouts[0].parent_agent, "call": call_id,
            "statuses": {s.agent: s.status for s in scouts},
        }))
        cancel.check()
        if stopped is not None:
            raise stopped  # the run's budget is spent: the call is left for resume
        return tool_result(scouts, self.settings.report_chars)

    # -- journal ------------------------------------------------------------------------
    def _journal(self, parent_row: int, tasks: list[str], depth: int) -> list[ScoutRecord]:
        """The fan-out's rows: found (a resumed call) or written with each scout's opening."""
        existing = self.session.scouts.for_call(parent_row)
        if existing:
            return existing
        parent = self.session.tool_calls.get(parent_row)
        transcript = self.session.transcript
        with self.session.transaction():
            scouts = self.session.scouts.add(parent_row, call_id=parent.call_id, parent_agent=parent.agent,
                                             prompt_id=parent.prompt_id, tasks=tasks, depth=depth,
                                             model=self.model.name)
            for scout in scouts:
                transcript.append("system", self._system_prompt(depth), agent=scout.agent,
                                  prompt_id=scout.prompt_id)
                transcript.append("user", scout.task, agent=scout.agent, prompt_id=scout.prompt_id)
        return scouts

    def _system_prompt(self, depth: int) -> str:
        more = ", and scout to send scouts of your own" if depth < self.settings.depth else ""
        return SCOUT_SYSTEM_PROMPT.format(root=self.tools.ctx.workspace.root, more=more,
                                          steps=self.settings.max_steps)

    def _settle(self, scouts: list[ScoutRecord]) -> None:
        """A fan-out the person dropped (not to be resumed): every scout still queued or
        running gets its final status, and each scout's calls left without a result get
        theirs, so nothing of it stays open for good."""
        for scout in scouts:
            ToolRunner(self.session, scout.agent, self.registry(scout.depth), Approver("read-only", None),
                       None, self.emit).settle_unanswered()
            if not scout.finished:
                self._finish(scout, "interrupted", None, "the turn was stopped before this scout finished",
                             scout.duration_ms or 0, time.monotonic())

    # -- running --------------------------------------------------------------------------
    def _run_all(self, todo: list[ScoutRecord], cancel: CancelToken) -> BudgetExceededError | None:
        """Run the scouts; the error of a spent budget that stopped some of them, if one did."""
        workers = min(len(todo), max(1, self.settings.parallel))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="agentcli-scout") as pool:
            futures = [pool.submit(self._run_one, scout, cancel) for scout in todo]
            wait(futures)
        stopped = None
        for future in futures:
            error = future.exception()
            if isinstance(error, BudgetExceededError):
                stopped = stopped or error
            elif error is not None and not isinstance(error, Cancelled):
                raise error  # _run_one records every failure; this is a bug, not a scout's fault
        return stopped

    def _run_one(self, scout: ScoutRecord, cancel: CancelToken) -> None:
        with self._slot(cancel):
            cancel.check()
            self._scout(scout, cancel)

    def _scout(self, scout: ScoutRecord, cancel: CancelToken) -> None:
        session = self.session
        began = time.monotonic()
        earlier = scout.duration_ms or 0  # time spent before a resume
        session.model_calls.close_pending(scout.agent, "agentcli stopped before the answer arrived")
        session.scouts.start(scout.id)
        steps = [self._steps(scout)]
        self.emit(Event("scout.started", {
            "id": scout.agent, "task": scout.task, "index": scout.position, "call": scout.call_id,
            "agent": scout.parent_agent, "model": scout.model, "depth": scout.depth,
            "steps": steps[0], "resumed": steps[0] > 0 or scout.status != "queued",
        }))
        loop = self._loop(scout, steps)
        report = error = None
        try:
            result = loop.run_turn(scout.prompt_id, cancel, self.settings.max_steps - steps[0])
        except Cancelled:
            self._finish(scout, "interrupted", None, "stopped before it finished", earlier, began)
            raise
        except BudgetExceededError as err:  # resume goes on from its transcript, with a new budget
            self._finish(scout, "interrupted", None, f"stopped by the run's budget: {err}", earlier, began)
            raise
        except ModelEndpointError as err:
            status, error = "failed", str(err)
        except Exception as err:  # one broken scout must not take the others down
            if stops_run(err):  # ... unless it is the session file that broke: the run stops
                raise
            status, error = "failed", f"{type(err).__name__}: {err}"
        else:
            status, report, error = result.status, result.answer or None, result.error
            if status == "failed" and result.resumable:  # the loop's turn limit
                error = f"step limit reached: {self.settings.max_steps} model calls without a final answer"
        self._finish(scout, status, report, error, earlier, began)

    def _finish(self, scout: ScoutRecord, status: str, report: str | None, error: str | None,
                earlier: int, began: float) -> None:
        duration = earlier + int((time.monotonic() - began) * 1000)
        steps = self._steps(scout)
        self.session.scouts.finish(scout.id, status, report=report, error=error, steps=steps,
                                   duration_ms=duration)
        self.emit(Event("scout.finished", {
            "id": scout.agent, "task": scout.task, "index": scout.position, "call": scout.call_id,
            "agent": scout.parent_agent, "status": status, "steps": steps, "duration_ms": duration,
            "error": error,
        }))

    def _steps(self, scout: ScoutRecord) -> int:
        return self.session.scouts.steps(scout.agent)

    def _loop(self, scout: ScoutRecord, steps: list[int]) -> AgentLoop:
        emit = self._progress(scout, steps)
        runner = ToolRunner(self.session, scout.agent, self.registry(scout.depth),
                            Approver("read-only", None), None, emit)
        return AgentLoop(self.session, scout.agent, self.model, runner, emit,
                         context_window=self.settings.context_window)

    def _progress(self, scout: ScoutRecord, steps: list[int]) -> EventSink:
        """The scout's own events become ``scout.progress``: its transcript stays out of view."""

        def relay(event: Event) -> None:
            data: dict[str, Any] = {"id": scout.agent, "agent": scout.parent_agent}
            if event.type == "assistant.message":
                steps[0] += 1
                data.update(steps=steps[0], activity="thinking")
            elif event.type == "tool.started":
                data.update(steps=steps[0], activity=doing(str(event.data.get("name") or ""),
                                                           str(event.data.get("arguments") or "")))
            elif event.type == "model.retry":
                data.update(steps=steps[0], activity=f"retrying (attempt {event.data.get('attempt', 0) + 1})")
            else:
                return
            self.emit(Event("scout.progress", data))

        return relay

    # -- slots ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _slot(self, cancel: CancelToken) -> Iterator[None]:
        """Hold one of the session's ``parallel`` slots while a scout runs."""
        self._acquire(cancel)
        self._local.holding = True
        try:
            yield
        finally:
            self._local.holding = False
            self._slots.release()

    @contextlib.contextmanager
    def _lend_slot(self, cancel: CancelToken) -> Iterator[None]:
        """A scout sending scouts gives its slot to them while it waits (no deadlock)."""
        if not getattr(self._local, "holding", False):
            yield
            return
        self._slots.release()
        try:
            yield
        finally:
            self._slots.acquire()  # back before its own next step; never cut short, so it balances

    def _acquire(self, cancel: CancelToken) -> None:
        while not self._slots.acquire(timeout=_WAKE_SECONDS):
            cancel.check()


def tool_result(scouts: list[ScoutRecord], report_chars: int) -> ToolOutput:
    """The scout call's result: a summary line, then each scout's report in task order."""
    counts: dict[str, int] = {}
    for scout in scouts:
        counts[scout.status] = counts.get(scout.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    parts = [f"{len(scouts)} scout{'' if len(scouts) == 1 else 's'}: {summary}."]
    for scout in scouts:
        parts.append(f"\n## Scout {scout.position + 1}: {one_line(scout.task, 200)}\n"
                     f"[{scout.status} · {scout.steps} step{'' if scout.steps == 1 else 's'}]")
        if scout.status == "done":
            parts.append(clip(scout.report or "", report_chars))
        else:
            parts.append(f"error: {scout.error or scout.status}")
    failed = all(s.status != "done" for s in scouts)
    data = {"scouts": [{"id": s.agent, "status": s.status, "steps": s.steps} for s in scouts]}
    return ToolOutput("\n".join(parts), is_error=failed, data=data)


def doing(name: str, arguments: str, limit: int = 60) -> str:
    """What a scout's call is doing, in words: the tool and its argument values, not JSON.

    Example:
        >>> doing("search", '{"pattern": "def \\\\w+", "glob": "*.py"}')
        'search def \\w+ *.py'
    """
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        values = [value if isinstance(value, str) else json.dumps(value) for value in parsed.values()
                  if value not in (None, "")]
        arguments = " ".join(" ".join(value.split()) for value in values)
    return one_line(f"{name} {arguments}".strip(), limit)


def clip(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters, its head and tail kept, with a note between."""
    if len(text) <= limit:
        return text
    half = max(1, limit // 2)
    left_out = len(text) - 2 * half
    return f"{text[:half]}\n[... {left_out} characters of this report left out ...]\n{text[-half:]}"
