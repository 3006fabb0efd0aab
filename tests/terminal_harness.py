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


class TerminalHarness:
    """A real ``Repl`` over a real session, driven by keys from the test's side thread."""

    def __init__(self, workspace: Path, server: Any, *, approval: str = "ask", prompt: str | None = None,
                 resume: str | None = None, width: int = 80, extra_keys: Any = None):
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

    # -- setting up ---------------------------------------------------------------------
    def __enter__(self) -> TerminalHarness:
        from prompt_toolkit.input import create_pipe_input
        from prompt_toolkit.output import DummyOutput
        from rich.console import Console

        from agentcli.cli.driver import RunOptions, settings_for
        from agentcli.cli.options import make_context
        from agentcli.cli.repl import TerminalIO
        from agentcli.cli.session_run import _create, terminal_repl
        from agentcli.session.session import Session

        os.environ.setdefault("OPENAI_API_KEY", API_KEY)
        self._pipe_cm = create_pipe_input()
        self.pipe = self._pipe_cm.__enter__()
        console = Console(file=self.out, width=self.width, force_terminal=False, color_system=None,
                          markup=False, highlight=False, emoji=False)
        self.io = TerminalIO(console, self.pipe, DummyOutput())
        if self.extra_keys is not None:
            self.io = _WithKeys(console, self.pipe, DummyOutput(), extra=self.extra_keys)
        self.ctx = make_context(self.workspace, None)
        flags = {"base_url": self.server.base_url, "approval": self.approval}
        options = RunOptions(None, False, False, flags)
        if self.resume:
            self.session = Session.open(self.ctx.sessions.resolve(self.resume, self.workspace), writer=True)
            settings = settings_for(self.ctx, options, self.session.meta().settings)
        else:
            settings = settings_for(self.ctx, options)
            self.session = _create(self.ctx, settings, self.prompt, "argument")
        self.repl, _ = terminal_repl(self.ctx, self.session, settings, options, self.io,
                                     resumed=bool(self.resume))
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = self.repl.run()
        except BaseException as err:  # noqa: BLE001 - reported by __exit__
            self.error = err

    def __exit__(self, *exc: object) -> None:
        if self.thread.is_alive():
            self.pipe.send_text("\x04")  # Ctrl-D leaves
            self.thread.join(20)
        self.repl.agent.close()
        for session, agent in self.repl.opened:
            agent.close()
            session.close()
        self.session.close()
        self._pipe_cm.__exit__(None, None, None)
        if self.error is not None and not exc[0]:
            raise self.error

    # -- driving ------------------------------------------------------------------------
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

    def session(self, **options: Any):  # noqa: ANN201 - a prompt_toolkit PromptSession
        from prompt_toolkit.key_binding import merge_key_bindings

        keys = [k for k in (options.pop("key_bindings", None), self.extra) if k is not None]
        return super().session(key_bindings=merge_key_bindings(keys), **options)
