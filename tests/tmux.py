"""A real terminal for tests: one tmux server of its own per terminal (``-L``), 80x30.

Each ``Tmux`` starts its own tmux server on a socket named for it, so no test ever races
another's server (or one that is exiting); ``close`` kills that server. The command runs
under a shell that writes its pid first (``pid``) and, once it exits, its exit status
(``code``), so a test can signal the very process and time its exit.
"""

from __future__ import annotations

import shlex
import subprocess
import time
import uuid
from pathlib import Path

WIDTH = 80
PASSED = ("OPENAI_API_KEY", "XDG_CONFIG_HOME", "PATH", "HOME", "PYTHONPATH")


class Tmux:
    """One terminal running ``command`` in ``cwd``; ``expect`` reads the visible screen."""

    def __init__(self, command: str, cwd: Path, env: dict[str, str], *, width: int = WIDTH):
        self.socket = f"agentcli-test-{uuid.uuid4().hex[:10]}"
        self.name = "t"
        self.files = cwd.parent / f".{self.socket}"
        self.files.mkdir()
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k in PASSED)
        pid, code = shlex.quote(str(self.files / "pid")), shlex.quote(str(self.files / "code"))
        inner = f"echo $$ > {pid}; exec env {exports} TERM=xterm-256color {command}"
        script = (f"cd {shlex.quote(str(cwd))} && sh -c {shlex.quote(inner)}; echo $? > {code}.part && "
                  f"mv {code}.part {code}; sleep 600")
        self._tmux("new-session", "-d", "-s", self.name, "-x", str(width), "-y", "30", script)
        self.history = ""
        self.found: dict[str, int] = {}  # how many times each expected text was already seen

    def _tmux(self, *args: str, capture: bool = False) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True)
        return done.stdout if capture else ""

    def screen(self) -> str:
        """The pane with its scrollback, as plain text."""
        self.history = self._tmux("capture-pane", "-p", "-J", "-S", "-500", "-t", self.name, capture=True)
        return self.history

    def expect(self, text: str, timeout: float = 20, *, times: int | None = None) -> str:
        """Wait for one more occurrence of ``text`` than already seen (or ``times`` in all)."""
        deadline = time.monotonic() + timeout
        wanted = times or self.found.get(text, 0) + 1
        while self.screen().count(text) < wanted:
            assert time.monotonic() < deadline, f"never saw {text!r} on:\n{self.history}"
            time.sleep(0.1)
        self.found[text] = wanted
        return self.history

    def send(self, *keys: str) -> None:
        """Press keys (tmux names: ``Enter``, ``C-c``...)."""
        self._tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        """Type ``text`` literally, then Enter."""
        self._tmux("send-keys", "-t", self.name, "-l", text)
        self.send("Enter")

    @property
    def pid(self) -> int:
        """The command's process id (it ``exec``\\ s in the shell that wrote it)."""
        deadline = time.monotonic() + 10
        while not (self.files / "pid").exists() or not (self.files / "pid").read_text().strip():
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.02)
        return int((self.files / "pid").read_text())

    def exit_code(self, timeout: float = 10) -> int:
        """Wait for the command to end; its exit status."""
        deadline = time.monotonic() + timeout
        while not (self.files / "code").exists():
            assert time.monotonic() < deadline, f"the command did not end:\n{self.screen()}"
            time.sleep(0.01)
        return int((self.files / "code").read_text())

    def close(self) -> None:
        """Kill this terminal's own tmux server."""
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)
