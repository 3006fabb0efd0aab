"""The terminal's drawing of agent events: streamed Markdown, a line per tool call, diffs.

:class:`TerminalView` is the event sink of an interactive session. It prints what
happened (to a rich console, markup off) and keeps the live state the prompt shows
while a turn runs: what the agent is doing, since when, and the last lines of a
running command (:meth:`TerminalView.activity_lines`).

It reads nothing but the events: an edit's diff comes in its ``tool.prepared`` event,
the outcome of an operation in its own (``rollback.finished``, ``compact.finished``,
``operation.failed``...). Events arrive on the agent's threads while the prompt reads the
live state on the main thread: that state is kept under a lock.

Example:
    >>> view = TerminalView(Console(file=StringIO(), width=80))
    >>> view(Event("tool.finished", {"name": "run_shell", "status": "failed", ...}))
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from agentcli.agent.sandbox.policy import UNCONFINED
from agentcli.cli.render.events import EventPrinter
from agentcli.cli.render.text import clean, excerpt
from agentcli.cli.terminal.diffs import diff_stats, diff_text
from agentcli.cli.terminal.markdown_stream import MarkdownStream
from agentcli.cli.terminal.previews import preview, previewed
from agentcli.cli.terminal.retries import RetryLine
from agentcli.session.records import ORCHESTRATOR, PLAN_MARKS

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from agentcli.agent.events import Event
    from agentcli.cli.render.scouts import ScoutBoard

TAIL_LINES = 4
LIVE_SCOUTS = 10  # scout rows in the live area (the running ones first)
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
# The argument that says most about a call, per tool (the rest are left out of its line).
KEY_ARGUMENT = {"read_file": "path", "write_file": "path", "edit_file": "path", "list_files": "path",
                "search": "pattern", "run_shell": "command"}
EDIT_TOOLS = ("write_file", "edit_file")


class TerminalView(EventPrinter):
    """Draws one interactive session's events; the prompt reads its live state."""

    def __init__(self, console: Console):
        super().__init__(None, stream_text=True, console=console)
        self.answer = MarkdownStream(console)
        self.activity: str | None = None  # what the agent is doing now, None when idle
        self.since = time.monotonic()
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._partial = ""  # the running command's unfinished last line
        self._live = threading.Lock()  # activity, tail and _partial: written by agents, read by the prompt
        self.queued_ids: set[int] = set()  # prompts typed ahead, announced when their turn starts
        self.shown_diffs: set[str] = set()  # edits whose diff was shown before approval
        self.last_usage: dict[str, int] | None = None
        self._arguments: dict[str, str] = {}  # call id -> its arguments, until it finishes
        self._edits: dict[str, list[dict[str, Any]]] = {}  # call id -> its edits, until it finishes
        self._current: dict[str, str] = {}  # agent -> id of its call being prepared or run
        self._sandboxes: dict[str, str | None] = {}  # call id -> the sandbox a shell call runs in
        self.outputs = 0  # the session's previewed outputs so far: the next is number outputs + 1
        self._blocks = threading.Lock()  # an answer's blocks and a command's block: one at a time
        self._held: list[str] = []  # commands' blocks drawn while an answer streamed, for its end
        self.retry = RetryLine()  # the orchestrator's model call waiting to be tried again

    @property
    def scouts(self) -> ScoutBoard:
        """The scouts of a fan-out: drawn in the live area under the spinner while they work
        (:meth:`activity_lines`), printed once as a table when the fan-out ends."""
        if self._scouts is None:
            from agentcli.cli.render.scouts import ScoutBoard

            self._scouts = ScoutBoard(self.console, live=False, quiet=True)
        return self._scouts

    def __call__(self, event: Event) -> None:
        super().__call__(event)
        if event.type == "scouts.finished" and not self.scouts.running:
            self._print_scouts()

    def _print_scouts(self) -> None:
        self.console.print(self.scouts.table(self.console.width - 1, indent=2), no_wrap=True,
                           overflow="ellipsis")

    # -- live state -------------------------------------------------------------------
    def _doing(self, what: str | None) -> None:
        with self._live:
            self.activity = what
            self.since = time.monotonic()

    def activity_lines(self, now: float | None = None) -> list[str]:
        """The spinner line (and a running command's last lines) for the prompt to show."""
        with self._live:
            activity, since, tail, partial = self.activity, self.since, tuple(self.tail), self._partial
        if activity is None:
            return []
        elapsed = (now or time.monotonic()) - since
        frame = SPINNER[int(elapsed * 10) % len(SPINNER)]
        width = self.console.width - 1
        clock = f" · {_seconds(elapsed)} · Ctrl-C stops"
        retrying = self.retry.lines(now)
        if retrying:  # the one line a retry gets, in place of "waiting for the model"
            activity = retrying[0]
            tail = (*tail, *retrying[1:])
        lines = [f"{frame} {_fit(activity, width - 2 - len(clock))}{clock}"]  # the clock is ASCII
        lines += [f"  │ {line}" for line in tail]
        if partial.strip():
            lines.append(f"  │ {partial}")
        pending = self.answer.pending.strip().splitlines()
        if pending and activity.startswith("writing"):
            lines.append(f"  {pending[-1]}")
        lines = [_fit(line.expandtabs(4), width) for line in lines]
        if self._scouts is not None and self._scouts.running:
            table = self._scouts.table(width, indent=2, limit=LIVE_SCOUTS)  # ids and statuses whole
            lines += table.plain.splitlines()
        return lines

    def command_block(self, drawn: str) -> None:
        """Print a slash command's block (drawn already, its ``› /cmd`` header first) now, or,
        while an answer is being streamed, as soon as that answer ends: never inside it."""
        with self._blocks:
            if self.answer.printed_any or self.answer.pending.strip():
                self._held.append(drawn)
                return
            self._write(drawn)

    def release_blocks(self) -> None:
        """The turn is over: print any command block still waiting for an answer's end."""
        with self._blocks:
            self._release_blocks()

    def _release_blocks(self) -> None:
        """The answer ended: print the command blocks that waited for it (under the lock)."""
        held, self._held = self._held, []
        for drawn in held:
            self._write(drawn)

    def _write(self, drawn: str) -> None:
        self.console.file.write(drawn)
        self.console.file.flush()

    def question_shown(self, call_id: str) -> None:
        """The approval question of call ``call_id`` is on screen (with its diff)."""
        self.shown_diffs.add(call_id)

    def question_answered(self) -> None:
        """The person answered: the spinner's clock starts again for the call itself."""
        with self._live:
            self.since = time.monotonic()

    # -- events -----------------------------------------------------------------------
    def _on_session_started(self, data: dict[str, Any]) -> None:
        from agentcli.agent.sandbox.startup import startup_line

        verb = "resuming session" if data.get("resumed") else "session"
        self._line(f"agentcli · {verb} {data['session']} · {data.get('model')} · "
                   f"approval {data.get('approval')}", "dim")
        sandbox = startup_line(data)
        if sandbox:
            warn = data.get("sandbox") == "off" or "sandbox_unavailable" in data
            self._line(sandbox, "bold yellow" if warn else "dim")

    def _on_checkpoint_created(self, data: dict[str, Any]) -> None:
        return  # /checkpoints lists them; one line per prompt would be noise

    def _on_turn_started(self, data: dict[str, Any]) -> None:
        if data.get("resumed"):
            self._line(f"continuing the interrupted turn of prompt {data['prompt']}", "yellow")
        elif data.get("prompt") in self.queued_ids:  # typed ahead: show it where it starts
            self.console.print()
            self._line(f"› {excerpt(data.get('text', ''), 200)}", "bold")
        self.answer.gap_first = False
        self._doing("thinking")

    def _on_model_request(self, data: dict[str, Any]) -> None:
        if data.get("agent", ORCHESTRATOR) == ORCHESTRATOR:
            self._doing("waiting for the model")

    def _on_model_retry(self, data: dict[str, Any]) -> None:
        if data.get("agent", ORCHESTRATOR) == ORCHESTRATOR:  # a scout's show in its row
            self.retry.failed(data)

    def _answered(self) -> None:
        said = self.retry.answered()
        if said is not None:
            self._line(_fit(said, self.console.width - 1), "dim yellow")

    def _on_assistant_delta(self, data: dict[str, Any]) -> None:
        if data.get("agent", ORCHESTRATOR) != ORCHESTRATOR:
            return
        self._answered()
        if self.activity != "writing the answer":
            self._doing("writing the answer")
        with self._blocks:
            self.answer.feed(data["text"])

    def _on_assistant_message(self, data: dict[str, Any]) -> None:
        if data.get("agent", ORCHESTRATOR) != ORCHESTRATOR:
            return
        self._answered()
        with self._blocks:
            if not self.answer.printed_any and not self.answer.pending and data.get("content"):
                self.answer.feed(data["content"])  # a reply that was not streamed
            self.answer.flush()
            self.answer.printed_any = False
            self._release_blocks()
        if data.get("usage"):
            self.last_usage = data["usage"]
        self._doing("working")

    def _on_tool_started(self, data: dict[str, Any]) -> None:
        name = data.get("name", "")
        self._arguments[data.get("id", "")] = data.get("arguments", "")
        self._sandboxes[data.get("id", "")] = data.get("sandbox")
        self._current[data.get("agent", ORCHESTRATOR)] = data.get("id", "")
        with self._live:
            self.tail.clear()
            self._partial = ""
        key = _key_argument(name, data.get("arguments", ""))
        self._doing(f"{'running' if name == 'run_shell' else name} {key}".strip())

    def _on_tool_prepared(self, data: dict[str, Any]) -> None:
        self._edits[data.get("id", "")] = data.get("edits") or []

    def _on_tool_output(self, data: dict[str, Any]) -> None:
        with self._live:
            text = self._partial + clean(data.get("text", "").replace("\r\n", "\n").replace("\r", "\n"))
            *done, partial = text.split("\n")
            self.tail.extend(line[:200] for line in done)
            self._partial = partial[-200:]

    def _on_tool_finished(self, data: dict[str, Any]) -> None:
        arguments = self._arguments.pop(data.get("id", ""), "")
        data = {**data, "sandbox": self._sandboxes.pop(data.get("id", ""), None)}
        self.console.print(tool_line(data, arguments, self.console.width), no_wrap=True,
                           overflow="ellipsis")
        if data.get("items") is not None and data["status"] == "done":
            self.console.print(plan_text(data["items"]))
        edits = self._edits.pop(data.get("id", ""), [])
        if data["status"] == "done" and data.get("id") not in self.shown_diffs:
            for edit in edits:  # made without asking: shown after the fact
                self.console.print(diff_text(_cut_new_file(edit.get("diff", ""))))
        with self._live:
            tail = [*self.tail, self._partial] if self.tail else []
            self.tail.clear()
            self._partial = ""
        if data.get("status") == "interrupted" and tail:
            self.console.print(_tail_text(tail))
        self.answer.gap_first = True  # the answer that follows is set apart from the tool lines
        if previewed(data) and data.get("agent", ORCHESTRATOR) == ORCHESTRATOR:
            self.outputs += 1  # numbered as engine.facts.output() numbers them
            shown = preview(data, self.outputs, self.console.width)
            if shown is not None:
                self.console.print(shown, no_wrap=True, overflow="ellipsis")
        self._doing("thinking")

    def _on_error(self, data: dict[str, Any]) -> None:
        self.retry.ended()
        with self._blocks:
            self.answer.flush()
            self.answer.printed_any = False
            self._release_blocks()
        self._line(f"error: {clean(data['message'])}", "bold red")

    def _on_turn_finished(self, data: dict[str, Any]) -> None:
        if data.get("agent", ORCHESTRATOR) != ORCHESTRATOR:
            return
        self.retry.ended()
        if self._scouts is not None and self._scouts.running:  # stopped before its scouts.finished
            self._scouts.stop()
            self._print_scouts()
        stopped = data.get("status") in ("interrupted", "cancelled")
        with self._blocks:
            self.answer.flush(note="(stopped: the text above is all the model had written)"
                              if stopped and self.answer.pending.strip() else "")
            self.answer.printed_any = False
            self._release_blocks()
        self._doing(None)

    # -- what operations did ---------------------------------------------------------
    def _on_prompt_queued(self, data: dict[str, Any]) -> None:
        if data.get("busy"):  # typed ahead: shown now, and again where its turn starts
            self.queued_ids.add(data["prompt"])
            self._line(f"  queued for the next turn: {excerpt(data.get('text', ''), 60)}", "dim")

    def _on_model_changed(self, data: dict[str, Any]) -> None:
        self._line(f"model is now {clean(data['model'])} for this session", "")

    def _on_approval_changed(self, data: dict[str, Any]) -> None:
        self._line(f"approval mode is now {data['mode']} for this session", "")

    def _on_compact_finished(self, data: dict[str, Any]) -> None:
        status = data.get("status")
        if status == "nothing":
            self._line("nothing older to summarise yet", "dim")
        elif status == "done":
            before = data.get("tokens_before")
            sizes = f" (about {before:,} tokens before)" if before else ""
            self._line(f"compacted: messages {data['first_message']}–{data['last_message']} are now a "
                       f"summary{sizes}", "")
        elif status == "interrupted":
            self._line(f"compaction stopped: {clean(data.get('error') or '')}", "yellow")
        else:
            self._line(f"the summary failed ({clean(data.get('error') or status)}); the context is as it was",
                       "yellow")

    def _on_rollback_finished(self, data: dict[str, Any]) -> None:
        console = self.console
        if data.get("undo_of") is not None:
            self._line(f"undid rollback {data['undo_of']}", "bold")
        else:
            self._line(f"rolled back to checkpoint {data['checkpoint']} (the state before prompt "
                       f"{data['checkpoint']})", "bold")
        for word, key in (("restored ", "restored"), ("removed  ", "removed")):
            for path in data.get(key) or []:
                console.print(f"  {word} {clean(path)}", markup=False, highlight=False)
        for note in data.get("notes") or []:
            self._line(f"  {clean(note)}", "yellow")
        if data.get("partial"):
            self._line(clean(data["partial"]), "bold red")
        verb = "shown to the model again" if data.get("undo_of") is not None else "hidden from the model"
        counts = f"{data.get('messages', 0)} message(s), {data.get('prompts', 0)} prompt(s)"
        self._line(f"  {counts} {verb}", "dim")
        if data.get("undo_of") is None:
            self._line("  /rollback --undo puts it back", "dim")

    def _on_operation_failed(self, data: dict[str, Any]) -> None:
        for path in data.get("paths") or []:
            self._line(f"  changed outside agentcli: {clean(path)}", "yellow")
        if data.get("operation") == "Rollback" and data.get("paths"):
            self._line("nothing was rolled back; add --force to overwrite those files", "yellow")
            return
        self._line(clean(data.get("message", "")), "yellow" if data.get("exit_code") == 2 else "red")


def _cut_new_file(diff: str, limit: int = 40) -> str:
    lines = diff.splitlines(keepends=True)
    if len(lines) <= limit + 6:
        return diff
    more = len(lines) - limit
    return "".join(lines[:limit]) + f"… {more} more lines\n"


def _seconds(elapsed: float) -> str:
    return f"{elapsed:.0f}s" if elapsed < 60 else f"{int(elapsed // 60)}m{int(elapsed % 60):02d}s"


def _duration(ms: int | None) -> str:
    if ms is None:
        return ""
    return f"{ms} ms" if ms < 1000 else f"{ms / 1000:.1f}s"


def _key_argument(name: str, arguments: str, limit: int = 200) -> str:
    """The one argument worth showing for a call (the command, the path...), on one line."""
    try:
        parsed = json.loads(arguments) if arguments else {}
    except ValueError:
        return clean(arguments[:limit])
    if not isinstance(parsed, dict):
        return ""
    if name == "update_plan":
        return f"({len(parsed.get('items') or [])} items)"
    key = KEY_ARGUMENT.get(name)
    value = parsed.get(key) if key else next((v for v in parsed.values() if isinstance(v, str)), "")
    text = value if isinstance(value, str) else ("" if value is None else json.dumps(value))
    if name == "run_shell":
        text = "$ " + text
    return clean(" ⏎ ".join(part.strip() for part in text.strip().splitlines()))[:limit]


def tool_line(data: dict[str, Any], arguments: str = "", width: int = 80) -> Text:
    """One compact line for a finished call: mark, name, key argument, result, duration.

    The key argument is cut to fit ``width`` so that the result and duration always show.
    A failure, an error result or a non-zero exit code is red, never green. A shell call
    that ran without a sandbox (``data["sandbox"]``) says ``unsandboxed``.
    """
    from rich.text import Text

    status = data.get("status", "")
    exit_code = data.get("exit_code")
    failed = status == "failed" or data.get("is_error") or exit_code not in (None, 0)
    if status == "done" and not failed:
        mark, style = "✓", "green"
    elif status == "denied":
        mark, style = "⊘", "yellow"
    elif status == "interrupted":
        mark, style = "…", "yellow"
    else:
        mark, style = "✗", "red"
    name = data.get("name", "")
    agent = data.get("agent", ORCHESTRATOR)
    line = Text()
    if agent != ORCHESTRATOR:
        line.append(f"{agent} ", style="dim")
    line.append(f"{mark} ", style=style)
    line.append(name, style="bold")
    tail = Text()
    result = _result_summary(data, failed)
    duration = _duration(data.get("duration_ms"))
    if data.get("sandbox") in UNCONFINED:
        tail.append(" · unsandboxed", style="bold yellow")
    if duration:
        tail.append(f" · {duration}", style="dim")
    room = width - 1 - line.cell_len - tail.cell_len
    key = _key_argument(name, arguments or data.get("arguments", ""))
    if result:
        result = _fit(result, max(room - min(len(key) + 1, 30) - 2, 12))
        room -= len(result) + 2
    if key and room > 4:
        line.append(" " + _fit(key, room - 1))
    if result:
        line.append(f"  {result}", style="red" if failed or status != "done" else "dim")
    line.append_text(tail)
    return line


def output_title(number: int, call: Any) -> str:
    """The pager's title for output ``number``: ``output 3 · run_shell $ pytest -q · exit 1``."""
    data = call.data or {}
    outcome = ("timed out" if data.get("timed_out") else f"exit {data['exit_code']}"
               if data.get("exit_code") is not None else call.status)
    what = f"{call.name} {_key_argument(call.name, call.arguments, 60)}".strip()
    return " · ".join(part for part in (f"output {number}", what, outcome) if part)


def _fit(text: str, width: int) -> str:
    """``text`` in at most ``width`` terminal cells (a CJK character takes two), cut with "…"."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(width - 1, 0)).rstrip(" ") + "…"


def _result_summary(data: dict[str, Any], failed: bool) -> str:
    output = clean(data.get("output", "")).strip()
    first = output.splitlines()[0] if output else ""
    if data.get("timed_out"):
        return "timed out"
    if data.get("exit_code") is not None:
        return f"exit {data['exit_code']}"
    if data.get("status") in ("denied", "interrupted") or failed:
        return first[:120]
    if data.get("name") in EDIT_TOOLS:
        return first[:80]
    return ""


def plan_text(items: list[dict[str, str]]) -> Text:
    """The plan as a checklist: done items green and struck, the current one bold."""
    from rich.text import Text

    out = Text()
    for item in items:
        status = item.get("status", "")
        mark = PLAN_MARKS.get(status, "[?]")
        style = {"done": "green", "in_progress": "bold yellow"}.get(status, "")
        out.append(f"  {mark} ", style=style)
        out.append(clean(item.get("title", "")) + "\n", style="strike dim" if status == "done" else style)
    out.rstrip()
    return out


def _tail_text(lines: list[str]) -> Text:
    from rich.text import Text

    out = Text()
    for line in [line for line in lines if line.strip()][-TAIL_LINES:]:
        out.append(f"  │ {line}\n", style="dim")
    out.rstrip()
    return out


__all__ = ["TerminalView", "diff_stats", "plan_text", "tool_line"]
