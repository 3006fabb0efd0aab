"""Shared pieces of the batch tests: task files, git repositories, a scripted model by task."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent_harness import rows
from openai_answers import Answer, error_answer, text_answer, tool_answer, tool_call


def write_tasks(path: Path, tasks: list[dict[str, Any] | str]) -> Path:
    """A task file: dicts as JSON lines, strings as they are."""
    path.write_text("".join((t if isinstance(t, str) else json.dumps(t)) + "\n" for t in tasks))
    return path


def make_repo(path: Path, files: dict[str, str] | None = None) -> Path:
    """A git repository with one commit of ``files``."""
    path.mkdir(parents=True)
    for name, text in (files or {"README.md": "hello\n"}).items():
        (path / name).write_text(text)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(path)]
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    return path


def user_prompt(body: dict[str, Any]) -> str:
    """The first user message of a request: the task's prompt."""
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def steps_done(body: dict[str, Any]) -> int:
    """How many tool results the conversation holds: the step the task is at."""
    return sum(1 for m in body["messages"] if m["role"] == "tool")


class TaskModel:
    """Answers each request from the task's prompt, never used up (a re-sent request gets
    the same answer): ``write NAME`` writes NAME then answers; ``fail`` gets a 400;
    anything else is answered at once. ``hold(marker, step)`` stalls that request."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.holds: dict[tuple[str, int], threading.Event] = {}
        self.held: list[str] = []
        self.hold_all = False
        self.lock = threading.Lock()

    def hold(self, marker: str, step: int) -> None:
        """Stall the request of the task whose prompt has ``marker``, at ``step``."""
        self.holds[(marker, step)] = threading.Event()

    def __call__(self, body: dict[str, Any]) -> Answer:
        prompt, step = user_prompt(body), steps_done(body)
        answer = self._answer(prompt, step)
        release = next((e for (marker, at), e in self.holds.items() if marker in prompt and at == step), None)
        if release is not None or self.hold_all:
            with self.lock:
                self.held.append(prompt)
            answer.hold, answer.hold_after = release or threading.Event(), 0
        return answer

    def _answer(self, prompt: str, step: int) -> Answer:
        words = prompt.split()
        if "fail" in words:
            return error_answer(400, "this task is meant to fail")
        if "write" in words and step == 0:
            name = words[words.index("write") + 1]
            return tool_answer(tool_call("write_file", {"path": name, "content": f"{prompt}\n"}),
                               delay=self.delay)
        return text_answer(f"finished: {prompt}", delay=self.delay)


def batch_files(root: Path) -> list[Path]:
    """The batch files of a workspace."""
    return sorted((root / ".agentcli" / "batches").glob("*.sqlite"))


def task_rows(batch: Path) -> dict[str, dict[str, Any]]:
    """The ``tasks`` rows of a batch file by task id."""
    return {r["id"]: r for r in rows(batch, "SELECT * FROM tasks ORDER BY position")}


def wait_for(check: Callable[[], bool], timeout: float = 30.0, what: str = "a condition") -> None:
    """Poll ``check`` until it holds; AssertionError after ``timeout``."""
    import time

    until = time.monotonic() + timeout
    while not check():
        if time.monotonic() > until:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
