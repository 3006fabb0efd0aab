"""A scripted run's progress lines: without a terminal they skip rich, and read the same."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console

from agentcli.agent.events import Event
from agentcli.cli.render.console import CleanConsole
from agentcli.cli.render.events import EventPrinter, PlainConsole
from agentcli.cli.render.progress import Progress

NASTY = ["[bold]markup[/bold] :smile:", "tab\there\tand\tthere", "cr\r\nlf\rx", "\x1b[31mred\x07\x08bell",
         "wide 漢字\tafter", "trailing   ", "long " * 60, "\x9bcsi\x0b\x0c", "e\u0301\u200b", ""]


def events(text: str) -> list[Event]:
    """Every event a scripted run's progress shows, each carrying ``text`` where it can."""
    return [
        Event("session.started", {"session": "s1", "model": text, "path": "/p", "resumed": False}),
        Event("checkpoint.created", {"checkpoint": 1}),
        Event("turn.started", {"prompt": 1, "resumed": True}),
        Event("model.retry", {"attempt": 1, "reason": text, "wait_s": 1.5, "endpoint": "h"}),
        Event("model.retry", {"attempt": 2, "error": text, "wait_s": None, "agent": "scout-1"}),
        Event("assistant.delta", {"text": text}),
        Event("assistant.message", {"text": text}),
        Event("tool.started", {"name": "write_file",
                               "arguments": json.dumps({"path": text, "content": text})}),
        Event("tool.started", {"name": "x", "arguments": text}),
        Event("tool.finished", {"name": "run_shell", "status": "failed", "output": text, "exit_code": 2}),
        Event("tool.finished", {"name": "update_plan", "status": "done", "output": "ok",
                                "items": [{"title": text, "status": "in_progress"}, {"title": "b"}]}),
        Event("compaction.started", {"messages": 3, "tokens_before": 10, "window": 20}),
        Event("compaction.finished", {"status": "failed", "error": text}),
        Event("context.dropped", {"message": text}),
        Event("error", {"message": text, "agent": "scout-1"}),
        Event("scouts.started", {"scouts": [{"id": "scout-1", "task": text}]}),
        Event("scout.started", {"id": "scout-1", "task": text, "resumed": True}),
        Event("scout.progress", {"id": "scout-1", "steps": 1, "activity": text}),
        Event("scout.finished", {"id": "scout-1", "task": text, "status": "failed", "steps": 1,
                                 "error": text, "duration_ms": 1200}),
        Event("scouts.finished", {}),
    ]


def shown(console_for: str, text: str) -> str:
    out = io.StringIO()
    if console_for == "rich":
        console = CleanConsole(file=out, markup=False, highlight=False, emoji=False, soft_wrap=True)
        printer = EventPrinter(None, stream_text=False, console=console)  # the rich console agentcli uses
    else:
        printer = EventPrinter(out, stream_text=False)
    sink = Progress(printer, out, attempts=6, cap=60.0, own_errors=False)
    for event in events(text):
        sink(event)
    return out.getvalue()


@pytest.mark.parametrize("text", NASTY, ids=range(len(NASTY)))
def test_plain_progress_is_what_rich_prints(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert isinstance(EventPrinter(io.StringIO(), stream_text=False).console, PlainConsole)
    assert shown("plain", text) == shown("rich", text)


@pytest.mark.parametrize(("variable", "value"), [("FORCE_COLOR", "1"), ("TTY_COMPATIBLE", "1")])
def test_colour_forced_by_the_environment_keeps_rich(variable: str, value: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, value)
    assert isinstance(EventPrinter(io.StringIO(), stream_text=False).console, Console)
    assert isinstance(EventPrinter(io.StringIO(), stream_text=True).console, Console)
