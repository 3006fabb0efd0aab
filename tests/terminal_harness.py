"""The interactive terminal in this process: prompt-toolkit's pipe input, a dummy output,
rich printing to a string, the agent on its worker thread talking to the scripted server.

    with TerminalHarness(workspace, server) as term:
        term.type("fix it\\r")          # waits for the prompt first
        term.expect("allow?")
        term.keys("y\\r")
        ...
        term.type("/exit\\r")
    assert term.result.status == "done"
"""

from __future__ import annotations

import io
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_harness import API_KEY

from agentcli.cli.repl import TerminalIO
from agentcli.session.session import Session


class TerminalHarness:
    """A real ``Repl`` over a real session, driven by keys from the test's side thread."""

    def __init__(self, workspace: Path, server: Any, *, approval: str = "ask", prompt: str | None = None,
                 resume: str | None = None, width: int = 80, extra_keys: Any = None,
                 flags: dict[str, Any] | None = None, ahead_error: BaseException | None = None):
        self.workspace = workspace
        self.server = server
        self.approval = approval
        self.prompt = prompt
        self.resume = resume
        self.width = width
        self.out = io.StringIO()
        self.result: Any = None
        self.error: BaseException | None = None
        self.seen = 0
        self.extra_keys = extra_keys  # prompt_toolkit KeyBindings added to every prompt (on top)
        self.flags = flags or {}  # more command-line settings (max_tokens=..., scouts=...)
        self.ahead_error = ahead_error  # what the type-ahead line raises when it opens (a broken terminal)
        self.code: int | None = None

    # -- setting up ---------------------------------------------------------------------
    def __enter__(self) -> TerminalHarness:
        from prompt_toolkit.input import create_pipe_input
        from prompt_toolkit.output import DummyOutput
        from rich.console import Console

        from agentcli.agent.engine.launch import create_session
        from agentcli.cli.launch import TerminalSessions, settings_for
        from agentcli.cli.options import RunOptions, make_context
        from agentcli.cli.repl import TerminalIO
        from agentcli.session.session import Session

        self._set_key = "OPENAI_API_KEY" not in os.environ  # given back on exit: later tests must not see it
        os.environ.setdefault("OPENAI_API_KEY", API_KEY)
        self._pipe_cm = create_pipe_input()
        self.pipe = self._pipe_cm.__enter__()
        console = Console(file=self.out, width=self.width, force_terminal=False, color_system=None,
                          markup=False, highlight=False, emoji=False)
        self.io = TerminalIO(console, self.pipe, DummyOutput())
        if self.extra_keys is not None or self.ahead_error is not None:
            self.io = _WithKeys(console, self.pipe, DummyOutput(), extra=self.extra_keys,
                                ahead_error=self.ahead_error)
        self.ctx = make_context(self.workspace, None)
        flags = {"base_url": self.server.base_url, "approval": self.approval, **self.flags}
        options = RunOptions(None, False, False, flags)
        self.first: Session | None = None  # the session the harness opened (the terminal makes the rest)
        if self.resume:
            self.first = Session.open(self.ctx.sessions.resolve(self.resume, self.workspace), writer=True)
            settings = settings_for(self.ctx, options, self.first.meta().settings)
        else:
            settings = settings_for(self.ctx, options)
            if self.prompt is not None:  # as `agentcli "task"` in a terminal; else the first prompt makes it
                self.first = create_session(self.ctx.place, settings, self.prompt, "argument")
        self.terminal = TerminalSessions(self.ctx, settings, self.io)
        self.repl = self.terminal.repl(self.first, resumed=bool(self.resume))
        self.options = RunOptions(None, False, False, flags)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        from agentcli.cli.launch import drive_terminal

        try:
            self.code = drive_terminal(self.terminal, self.repl, self.options)
        except BaseException as err:  # noqa: BLE001 - reported by __exit__
            self.error = err
        finally:
            self.result = self.repl.result

    def __exit__(self, *exc: object) -> None:
        if self.thread.is_alive():
            self.pipe.send_text("\x04")  # Ctrl-D leaves
            self.thread.join(20)
        self.terminal.close()
        if self.first is not None:
            self.first.close()
        self._pipe_cm.__exit__(None, None, None)
        if self._set_key:
            os.environ.pop("OPENAI_API_KEY", None)
        if self.error is not None and not exc[0]:
            raise self.error

    # -- driving ------------------------------------------------------------------------
    @property
    def session(self) -> Session:
        """The session the terminal drives now (or drove last)."""
        current = self.terminal.driven or self.first
        assert current is not None, "no session yet: the first prompt makes it"
        return current

    @property
    def screen(self) -> str:
        """Everything printed so far."""
        return self.out.getvalue()

    def expect(self, text: str, timeout: float = 15) -> str:
        """Wait until ``text`` is printed after what the last expect found; return the output."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.screen.find(text, self.seen)
            if found >= 0:
                self.seen = found + len(text)
                return self.screen
            assert self.thread.is_alive() or text in self.screen, f"the REPL ended:\n{self.screen}"
            assert time.monotonic() < deadline, f"never saw {text!r} in:\n{self.screen}"
            time.sleep(0.02)

    def wait_idle(self, timeout: float = 15) -> None:
        """Wait until the REPL waits at its prompt (no turn running)."""
        assert self.repl.idle.wait(timeout), f"never idle:\n{self.screen}"

    def type(self, keys: str) -> None:
        """Type at the prompt once the REPL waits there."""
        self.wait_idle()
        self.keys(keys)

    def keys(self, keys: str) -> None:
        """Type now, whatever reads the keys."""
        self.pipe.send_text(keys)

    def finish(self, timeout: float = 20) -> None:
        """Wait for the REPL to end (after /exit or Ctrl-D)."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the REPL did not end:\n{self.screen}"
        if self.error is not None:
            raise self.error



@dataclass
class _WithKeys(TerminalIO):
    """Pipes whose prompts also have the test's key bindings, on top of the REPL's own."""

    extra: Any = None
    ahead_error: BaseException | None = None

    def session(self, **options: Any):  # noqa: ANN201 - a prompt_toolkit PromptSession
        from prompt_toolkit.key_binding import merge_key_bindings

        keys = [k for k in (options.pop("key_bindings", None), self.extra) if k is not None]
        if self.ahead_error is not None and options.get("erase_when_done"):  # the type-ahead line
            return _BrokenLine(self.ahead_error, input=self.input, output=self.output,
                               key_bindings=merge_key_bindings(keys), **options)
        return super().session(key_bindings=merge_key_bindings(keys), **options)


def _broken_line_class():  # noqa: ANN202 - prompt_toolkit is imported only when a test needs it
    from prompt_toolkit import PromptSession

    class BrokenLine(PromptSession):
        """A prompt whose terminal fails as it opens (what an unplugged terminal does)."""

        def __init__(self, error: BaseException, **options: Any):
            super().__init__(**options)
            self.error = error

        def prompt(self, *args: Any, **kwargs: Any) -> Any:
            raise self.error

    return BrokenLine


def _BrokenLine(error: BaseException, **options: Any) -> Any:  # noqa: N802 - builds a class instance
    return _broken_line_class()(error, **options)
