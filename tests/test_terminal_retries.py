"""Retries at the terminal: one line in the live area, updated in place; one line kept after."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from openai_answers import error_answer, text_answer
from terminal_harness import TerminalHarness

from agentcli.agent.events import Event
from agentcli.cli.terminal.view import TerminalView


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    config = tmp_path / "config"
    (config / "agentcli").mkdir(parents=True)
    (config / "agentcli" / "config.toml").write_text("retry_max_wait = 0.01\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return root.resolve()


def _view() -> tuple[TerminalView, io.StringIO]:
    from rich.console import Console

    out = io.StringIO()
    return TerminalView(Console(file=out, width=80, color_system=None)), out


def test_the_retry_is_one_line_in_the_live_area_counting_down() -> None:
    view, out = _view()
    view(Event("turn.started", {"prompt": 1}))
    view(Event("model.request", {}))
    retry = {"attempt": 1, "attempts": 6, "wait_s": 3, "reason": "HTTP 503: the server is busy",
             "endpoint": "127.0.0.1:9"}
    view(Event("model.retry", retry))
    now = time.monotonic()
    lines = view.activity_lines(now)
    assert "retrying in 3 s, attempt 2 of 6" in lines[0] and "Ctrl-C stops" in lines[0]
    assert lines[1] == "  │ the last attempt failed: HTTP 503: the server is busy"
    assert "retrying in 1 s, attempt 2 of 6" in view.activity_lines(now + 2)[0]  # updated in place
    assert "trying again: attempt 2 of 6" in view.activity_lines(now + 3)[0]
    view(Event("model.retry", {**retry, "attempt": 2, "wait_s": 5}))
    assert "retrying in 5 s, attempt 3 of 6" in view.activity_lines()[0]
    assert out.getvalue() == ""  # nothing printed per attempt
    view(Event("assistant.delta", {"text": "Hello"}))
    assert view.activity_lines()[0].count("retrying") == 0
    said = "(answered on attempt 3; 2 failed before it: HTTP 503: the server is busy)"
    assert out.getvalue().strip() == said


def test_retries_leave_one_line_in_the_scrollback(workspace, openai_server) -> None:
    openai_server.script(error_answer(503, "overloaded"), error_answer(503, "overloaded"),
                         text_answer("fine now"))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("hi\r")
        screen = term.expect("fine now")
        term.type("/exit\r")
        term.finish()
    assert screen.count("attempt") == 1 and "retrying" not in screen
    assert "(answered on attempt 3; 2 failed before it: HTTP 503: overloaded)" in screen


def test_a_call_that_fails_for_good_says_it_once(workspace, openai_server) -> None:
    openai_server.script(*[error_answer(503, "overloaded")] * 6)
    with TerminalHarness(workspace, openai_server) as term:
        term.type("hi\r")
        screen = term.expect("failed after 6 attempts")
        term.type("/exit\r")
        term.finish()
    assert "retrying" not in screen and "answered on attempt" not in screen
    assert screen.count("error: model endpoint") == 1
