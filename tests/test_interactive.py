"""The interactive loop in a real pseudo-terminal: prompts, approval answers, Ctrl-D."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agent_harness import rows, sessions_folder
from openai_answers import text_answer, tool_answer, tool_call

pytestmark = pytest.mark.slow

PROMPT = "›"  # ends the prompt_toolkit prompt (drawn with escapes) and the approval question


class Terminal:
    """agentcli running on a pty; ``expect`` waits for text on its screen."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "agentcli", *args], cwd=cwd,
                                     env={**env, "TERM": "xterm", "COLUMNS": "100", "LINES": "30",
                                          "PROMPT_TOOLKIT_NO_CPR": "1"},
                                     stdin=slave, stdout=slave, stderr=slave, close_fds=True)
        os.close(slave)
        self.screen = ""
        self.seen = 0  # where the text ``expect`` last found ends

    def expect(self, text: str, timeout: float = 20) -> None:
        self._wait_for(text, self.seen, timeout)
        self.seen = self.screen.index(text, self.seen) + len(text)

    def send(self, text: str) -> None:
        """Type ``text`` once the next prompt (``>``) is on the screen: agentcli is reading."""
        self._wait_for(PROMPT, self.seen, 20)
        os.write(self.master, text.encode())

    def send_when_idle(self, text: str) -> None:
        """Type ``text`` once the idle prompt is back (its placeholder drawn): the turn is over
        (``send`` would also type into the line a running turn offers for queueing)."""
        self._wait_for("Alt-Enter: new line", self.seen, 20)
        os.write(self.master, text.encode())

    def _wait_for(self, text: str, start: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen[start:]:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r} in:\n{self.screen}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.screen += os.read(self.master, 4096).decode(errors="replace")
                except OSError:
                    break

    def close(self) -> int:
        code = self.proc.wait(20)
        os.close(self.master)
        return code


def test_interactive_session_asks_then_remembers_always(openai_server, tmp_path, env):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    openai_server.script(
        tool_answer(tool_call("write_file", {"path": "a.txt", "content": "1\n"})),
        text_answer("wrote a"),
        tool_answer(tool_call("write_file", {"path": "b.txt", "content": "2\n"})),
        text_answer("wrote b"),
    )
    term = Terminal(["new", "--base-url", openai_server.base_url], workspace,
                    env)
    term.expect("approval ask")
    term.send("write a\r")
    term.expect("[y/n/a/r]")
    term.send("a")
    term.expect("wrote a")
    term.send("write b\r")  # edits were granted "always": no second question
    term.expect("wrote b")
    term.send_when_idle("\x04")  # Ctrl-D leaves
    assert term.close() == 0
    assert (workspace / "a.txt").read_text() == "1\n" and (workspace / "b.txt").read_text() == "2\n"
    assert term.screen.count("wants to create") == 1  # asked once: the question can be redrawn
    db = next(sessions_folder(workspace).glob("*.sqlite"))
    assert [r["approval"] for r in rows(db, "SELECT approval FROM tool_calls ORDER BY id")] == [
        "always", "granted"]
    assert rows(db, "SELECT kind FROM approvals")[0]["kind"] == "edits"
    assert rows(db, "SELECT title FROM meta")[0]["title"] == "write a"
