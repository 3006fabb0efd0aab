"""The terminal's drawing of agent events: streamed Markdown, a line per tool call, diffs.

:class:`TerminalView` is the event sink of an interactive session. It prints what
happened (to a rich console, markup off) and keeps the live state the prompt shows
while a turn runs: what the agent is doing, since when, and the last lines of a
running command (:meth:`TerminalView.activity_lines`).

Example:
    >>> view = TerminalView(Console(file=StringIO(), width=80), session)
    >>> view(Event("tool.finished", {"name": "run_shell", "status": "failed", ...}))
"""

from __future__ import annotations

import json
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from agentcli.agent.sandbox.policy import UNCONFINED
from agentcli.cli.render.events import EventPrinter
from agentcli.cli.render.text import clean, excerpt
from agentcli.cli.terminal.diffs import diff_stats, diff_text
from agentcli.cli.terminal.markdown_stream import MarkdownStream
from agentcli.session.records import ORCHESTRATOR, PLAN_MARKS

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from agentcli.session.session import Session

TAIL_LINES = 4
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
# The argument that says most about a call, per tool (the rest are left out of its line).
KEY_ARGUMENT = {"read_file": "path", "write_file": "path", "edit_file": "path", "list_files": "path",
                "search": "pattern", "run_shell": "command"}
EDIT_TOOLS = ("write_file", "edit_file")


class TerminalView(EventPrinter):
    """Draws one interactive session's events; the prompt reads its live state."""

    def __init__(self, console: Console, session: Session | None = None):
        super().__init__(None, stream_text=True, console=console)
        self.session = session
        self.answer = MarkdownStream(console)
        self.activity: str | None = None  # what the agent is doing now, None when idle
        self.since = time.monotonic()
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._partial = ""  # the running command's unfinished last line
        self.queued_ids: set[int] = set()  # prompts typed ahead, announced when their turn starts
        self.shown_diffs: set[str] = set()  # edits whose diff was shown before approval
        self.last_usage: dict[str, int] | None = None
        self._seen_call = 0  # tool_calls rows already looked at
        self._arguments: dict[str, str] = {}  # call id -> its arguments, until it finishes
        self._files_seen = 0  # file_changes rows logged before the running edit
        self._current: dict[str, str] = {}  # agent -> id of its call being prepared or run
        self._sandboxes: dict[str, str | None] = {}  # call id -> the sandbox a shell call runs in

    # -- live state -------------------------------------------------------------------
    def _doing(self, what: str | None) -> None:
        self.activity = what
        self.since = time.monotonic()

    def activity_lines(self, now: float | None = None) -> list[str]:
        """The spinner line (and a running command's last lines) for the prompt to show."""
        if self.activity is None:
            return []
        elapsed = (now or time.monotonic()) - self.since
        frame = SPINNER[int(elapsed * 10) % len(SPINNER)]
        width = self.console.width - 1
        clock = f" · {_seconds(elapsed)} · Ctrl-C stops"
        lines = [f"{frame} {_fit(self.activity, width - 2 - len(clock))}{clock}"]  # the clock is ASCII
        lines += [f"  │ {line}" for line in self.tail]
        if self._partial.strip():
            lines.append(f"  │ {self._partial}")
        pending = self.answer.pending.strip().splitlines()
        if pending and self.activity.startswith("writing"):
            lines.append(f"  {pending[-1]}")
        return [_fit(line.expandtabs(4), width) for line in lines]

    def question_shown(self, agent: str) -> None:
        """The approval question of ``agent``'s current call is on screen (with its diff)."""
        self.shown_diffs.add(self._current.get(agent, ""))

    def question_answered(self) -> None:
        """The person answered: the spinner's clock starts again for the call itself."""
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
        self._doing("thinking")

    def _on_model_request(self, data: dict[str, Any]) -> None:
        if data.get("agent", ORCHESTRATOR) == ORCHESTRATOR:
            self._doing("waiting for the model")

    def _on_assistant_delta(self, data: dict[str, Any]) -> None:
        if data.get("agent", ORCHESTRATOR) != ORCHESTRATOR:
            return
        if self.activity != "writing the answer":
            self._doing("writing the answer")
        self.answer.feed(data["text"])

    def _on_assistant_message(self, data: dict[str, Any]) -> None:
        if data.get("agent", ORCHESTRATOR) != ORCHESTRATOR:
            return
        if not self.answer.printed_any and not self.answer.pending and data.get("content"):
            self.answer.feed(data["content"])  # a reply that was not streamed
        self.answer.flush()
        self.answer.printed_any = False
        if data.get("usage"):
            self.last_usage = data["usage"]
        self._doing("working")

    def _on_tool_started(self, data: dict[str, Any]) -> None:
        name = data.get("name", "")
        self._arguments[data.get("id", "")] = data.get("arguments", "")
        self._sandboxes[data.get("id", "")] = data.get("sandbox")
        self._current[data.get("agent", ORCHESTRATOR)] = data.get("id", "")
        if name in EDIT_TOOLS and self.session is not None:
            self._files_seen = self.session.files.last_id()
        self.tail.clear()
        self._partial = ""
        key = _key_argument(name, data.get("arguments", ""))
        self._doing(f"{'running' if name == 'run_shell' else name} {key}".strip())

    def _on_tool_output(self, data: dict[str, Any]) -> None:
        text = self._partial + clean(data.get("text", "").replace("\r\n", "\n").replace("\r", "\n"))
        *done, self._partial = text.split("\n")
        self.tail.extend(line[:200] for line in done)
        self._partial = self._partial[-200:]

    def _on_tool_finished(self, data: dict[str, Any]) -> None:
        name = data.get("name", "")
        arguments = self._arguments.pop(data.get("id", ""), "")
        data = {**data, "sandbox": self._sandboxes.pop(data.get("id", ""), None)}
        self.console.print(tool_line(data, arguments, self.console.width), no_wrap=True,
                           overflow="ellipsis")
        if data.get("items") is not None and data["status"] == "done":
            self.console.print(plan_text(data["items"]))
        if name in EDIT_TOOLS and data["status"] == "done" and data.get("id") not in self.shown_diffs:
            self._show_applied(data.get("id", ""))
        if data.get("status") == "interrupted" and self.tail:
            self.console.print(_tail_text(list(self.tail) + [self._partial]))
        self.tail.clear()
        self._partial = ""
        self._doing("thinking")

    def _on_error(self, data: dict[str, Any]) -> None:
        self.answer.flush()
        self._line(f"error: {clean(data['message'])}", "bold red")

    def _on_turn_finished(self, data: dict[str, Any]) -> None:
        if data.get("agent", ORCHESTRATOR) != ORCHESTRATOR:
            return
        stopped = data.get("status") in ("interrupted", "cancelled")
        self.answer.flush(note="(stopped: the text above is all the model had written)"
                          if stopped and self.answer.pending.strip() else "")
        self.answer.printed_any = False
        self._doing(None)

    # -- helpers ----------------------------------------------------------------------
    def _show_applied(self, call_id: str) -> None:
        """An edit made without asking: show its diff from the file log, after the fact."""
        if self.session is None:
            return
        from agentcli.agent.history.diff import file_diff
        from agentcli.agent.history.disk import after_side, before_side

        calls = self.session.tool_calls.after(self._seen_call)
        if calls:
            self._seen_call = calls[-1].id
        row = next((c for c in calls if c.call_id == call_id), None)
        if row is None:
            return
        for change in self.session.files.since(self._files_seen):
            if change.tool_call_id != row.id:
                continue
            text = file_diff(change.path, before_side(change), after_side(change), self.session.blobs)
            self.console.print(diff_text(_cut_new_file(text)))


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
