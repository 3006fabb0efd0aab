"""Draw agent events for a person: plain lines on a rich console, markup off.

Model and tool text is printed as-is (``markup=False``): rich would otherwise eat
``[bold]`` in a file's content. A scripted run's progress on a stream that is no
terminal needs no rich at all (:class:`PlainConsole`).
"""

from __future__ import annotations

import json
import os
from typing import IO, TYPE_CHECKING, Any

from agentcli.agent.events import Event
from agentcli.agent.sandbox.policy import UNCONFINED
from agentcli.cli.render.text import clean

if TYPE_CHECKING:
    from rich.console import Console

    from agentcli.cli.render.scouts import ScoutBoard

_MARKS = {"done": "✓", "failed": "✗", "denied": "⊘", "interrupted": "…"}


class PlainConsole:
    """The part of ``rich.console.Console`` an :class:`EventPrinter` uses, for a stream that
    is no terminal: rich prints a printable line (:func:`printable`) there as it is, without
    styles, and importing rich costs ~50 ms of a scripted run's start.

    Example:
        >>> PlainConsole(sys.stderr).print("checkpoint 1", style="dim")
    """

    is_terminal = False

    def __init__(self, file: IO[str]):
        self.file = file

    def print(self, *objects: Any, style: str | None = None, end: str = "\n") -> None:
        """Write ``objects`` as text (a rich ``Text`` as its plain text), then ``end``."""
        self.file.write(clean(" ".join(str(item) for item in objects) + end))
        self.file.flush()  # as rich does: progress shows as it happens


def plain_stream(file: IO[str]) -> bool:
    """Whether rich would print plain text to ``file``: no terminal, and no colour forced
    by the environment (``FORCE_COLOR``, ``TTY_COMPATIBLE=1``, as rich reads them)."""
    if os.environ.get("FORCE_COLOR") or os.environ.get("TTY_COMPATIBLE") == "1":
        return False
    try:
        return not file.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed: rich says "no terminal" too
        return True


class EventPrinter:
    """Renders events to a stream: streamed text (optional), one line per tool call.

    Example:
        >>> printer = EventPrinter(sys.stderr, stream_text=False)
        >>> printer(Event("tool.started", {"name": "read_file", "arguments": '{"path": "a"}'}))
    """

    def __init__(self, file: IO[str] | None, *, stream_text: bool, color: bool | None = None,
                 live: bool | None = None, console: Console | PlainConsole | None = None):
        self.console = console or _console(file, stream_text=stream_text, color=color)
        self.stream_text = stream_text
        self._mid_line = False
        self._live = self.console.is_terminal if live is None else live
        self._scouts: ScoutBoard | None = None

    @property
    def scouts(self) -> ScoutBoard:
        """The scouts: a table redrawn in place on a terminal, else a line per start and finish
        (made at the first scout event: it needs rich's table and live display)."""
        if self._scouts is None:
            from agentcli.cli.render.scouts import ScoutBoard

            self._scouts = ScoutBoard(self.console, live=self._live)  # type: ignore[arg-type]
        return self._scouts

    def __call__(self, event: Event) -> None:
        if event.type.startswith(("scout.", "scouts.")):
            if self._mid_line:
                self.console.print()
                self._mid_line = False
            self.scouts.on_event(event.type, event.data)
            return
        handler = getattr(self, "_on_" + event.type.replace(".", "_"), None)
        if handler is not None:
            handler(event.data)

    def _line(self, text: str, style: str | None = None) -> None:
        if self._mid_line:
            self.console.print()
            self._mid_line = False
        self.console.print(printable(text), style=style)

    def _on_session_started(self, data: dict[str, Any]) -> None:
        from agentcli.agent.sandbox.startup import startup_line

        verb = "resuming" if data.get("resumed") else "session"
        self._line(f"{verb} {data['session']} · {data.get('model')} · {data.get('path')}", "dim")
        sandbox = startup_line(data)
        if sandbox:
            self._line(sandbox, "bold yellow")

    def _on_checkpoint_created(self, data: dict[str, Any]) -> None:
        self._line(f"checkpoint {data['checkpoint']}", "dim")

    def _on_turn_started(self, data: dict[str, Any]) -> None:
        if data.get("resumed"):
            self._line(f"continuing the interrupted turn of prompt {data['prompt']}", "yellow")

    def _on_model_retry(self, data: dict[str, Any]) -> None:
        reason = data.get("reason") or "it failed"
        wait = data.get("wait_s")
        when = f"in {wait:g} s" if isinstance(wait, (int, float)) else "now"
        self._line(f"model call failed ({clean_line(reason)}); retrying {when} "
                   f"(attempt {data['attempt'] + 1})", "yellow")

    def _on_assistant_delta(self, data: dict[str, Any]) -> None:
        if self.stream_text:
            self.console.print(data["text"], end="")
            self._mid_line = not data["text"].endswith("\n")

    def _on_assistant_message(self, data: dict[str, Any]) -> None:
        if self.stream_text and self._mid_line:
            self.console.print()
            self._mid_line = False

    def _on_tool_started(self, data: dict[str, Any]) -> None:
        unconfined = " (unsandboxed)" if data.get("sandbox") in UNCONFINED else ""
        self._line(f"→ {data['name']}{unconfined} {_brief(data.get('arguments', ''))}", "cyan")

    def _on_tool_finished(self, data: dict[str, Any]) -> None:
        mark = _MARKS.get(data["status"], "·")
        detail = data.get("output", "").strip().splitlines()
        first = detail[0][:160] if detail else ""
        extra = f" (exit {data['exit_code']})" if data.get("exit_code") not in (None, 0) else ""
        style = "green" if data["status"] == "done" and not data.get("is_error") else "red"
        self._line(f"  {mark} {data['status']}{extra}  {first}", style)

    def _on_compaction_started(self, data: dict[str, Any]) -> None:
        count = f"{data['messages']} older messages" if data.get("messages") is not None else "older messages"
        self._line(f"compacting the context: summarising {count} (the next request would take about "
                   f"{data['tokens_before']} of {data['window']} tokens)", "dim")

    def _on_compaction_finished(self, data: dict[str, Any]) -> None:
        if data["status"] == "done":
            self._line(f"compacted: the next request takes about {data['tokens_after']} tokens", "dim")
        else:
            self._line(f"compaction failed: {data.get('error') or data['status']}", "yellow")

    def _on_context_dropped(self, data: dict[str, Any]) -> None:
        self._line(f"warning: {data['message']}", "bold yellow")

    def _on_error(self, data: dict[str, Any]) -> None:
        self._line(f"error: {data['message']}", "bold red")

    def _on_warning(self, data: dict[str, Any]) -> None:
        self._line(f"agentcli: warning: {data['message']}", "yellow")


# C0 controls but none a one-line record needs, DEL, and the C1 range (\x9b is a CSI too)
def printable(line: str) -> str:
    """A progress line that cannot drive the terminal: file contents and tool output may
    hold escape sequences (colours, cursor moves, a retitled window) and bidi overrides;
    the one cleaner (:func:`~agentcli.cli.render.text.clean`), a tab as a space."""
    return clean(line.replace("\t", " "))


def _console(file: IO[str] | None, *, stream_text: bool, color: bool | None) -> Console | PlainConsole:
    """Plain lines to a stream that is no terminal (streamed model text aside: rich expands
    its tabs and strips its controls), else a rich console, markup off."""
    if file is not None and not stream_text and color is None and plain_stream(file):
        return PlainConsole(file)
    from agentcli.cli.render.console import CleanConsole

    return CleanConsole(file=file, markup=False, highlight=False, emoji=False, force_terminal=color,
                        soft_wrap=True)


def _brief(arguments: str, limit: int = 120) -> str:
    """A one-line view of a call's arguments: the values, not the JSON."""
    try:
        parsed = json.loads(arguments) if arguments else {}
    except ValueError:
        return arguments[:limit]
    if not isinstance(parsed, dict):
        return str(parsed)[:limit]
    parts = []
    for key, value in parsed.items():
        text = value if isinstance(value, str) else json.dumps(value)
        text = text.replace("\n", "⏎")
        if key in ("content", "old_string", "new_string") and len(text) > 40:
            text = f"<{len(value) if isinstance(value, str) else len(text)} chars>"
        parts.append(f"{key}={text}")
    line = " ".join(parts)
    return line if len(line) <= limit else line[: limit - 1] + "…"


class JsonLines:
    """Write each event as one JSON object a line (``--json``), flushing every line."""

    # what only a live view draws (streamed text, a command's output, an edit's whole text
    # before it is applied), and the engine's own bookkeeping (session.finished is the end)
    SKIP = {"assistant.delta", "model.request", "scout.progress", "tool.output", "tool.prepared",
            "run.finished", "compact.finished"}

    def __init__(self, file: IO[str]):
        self.file = file

    def __call__(self, event: Event) -> None:
        if event.type in self.SKIP:
            return
        self.file.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
        self.file.flush()


def clean_line(text: str, limit: int = 160) -> str:
    """One line of text from the endpoint or a tool: cleaned, on one line, cut to ``limit``."""
    flat = clean(" ".join(str(text).split()))
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
