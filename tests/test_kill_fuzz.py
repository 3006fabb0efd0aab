"""Kill fuzz: SIGKILL ``agentcli new`` at random instants (creation included), resume, compare.

Each round starts the reference session in a real process, kills it after a random delay
somewhere between its start and its end, then resumes (or, when the kill came before the
session file existed, starts again) until the session is done. The result must be the
uninterrupted run's: the same files from the file tools, the same answer, every tool call
closed, no shell side effect done twice, no session file left half-made.

``AGENTCLI_KILL_FUZZ=100`` runs 100 rounds (the issue's figure); the suite runs fewer.
"""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest
from agent_harness import agentcli, rows, sessions_folder, start
from openai_answers import text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.slow

ROUNDS = int(os.environ.get("AGENTCLI_KILL_FUZZ", "12"))
ANSWERS = [
    tool_answer(tool_call("write_file", {"path": "notes.txt", "content": "first draft\n"})),
    tool_answer(tool_call("run_shell", {"command": "echo step >> log.txt"})),
    tool_answer(tool_call("edit_file", {"path": "notes.txt", "old_string": "first", "new_string": "final"})),
    tool_answer(tool_call("update_plan", {"items": [{"title": "write notes", "status": "done"}]})),
    tool_answer(tool_call("run_shell", {"command": "echo again >> log.txt"})),
    text_answer("all done"),
]


def _args(server: ScriptedOpenAIServer) -> list[str]:
    return ["-p", "--base-url", server.base_url, "--approval", "full-auto"]


def _finish(server: ScriptedOpenAIServer, root: Path, env: dict[str, str]) -> str:
    """Carry the killed session to its end as a user would; returns the final answer."""
    folder = sessions_folder(root)
    files = sorted(folder.glob("*.sqlite")) if folder.is_dir() else []
    if not files:  # killed before the session existed: nothing was lost, start again
        run = agentcli(["new", "do it", *_args(server)], env=env, cwd=root)
    else:
        assert len(files) == 1, files
        run = agentcli(["resume", "last", *_args(server)], env=env, cwd=root)
    assert run.code == 0, run.stderr
    listed = agentcli(["list", "--all"], env=env, cwd=root)
    assert listed.code == 0 and "creating" not in listed.stdout
    db = next(folder.glob("*.sqlite"))
    # the answer as recorded: a kill after it was stored leaves resume nothing to do
    last = rows(db, "SELECT content FROM messages WHERE role = 'assistant' ORDER BY id DESC LIMIT 1")
    return last[0]["content"]


def test_random_kills_always_resume_to_the_clean_result(tmp_path: Path, env: dict[str, str]) -> None:
    rng = random.Random(int(os.environ.get("AGENTCLI_KILL_FUZZ_SEED", "8")))
    with ScriptedOpenAIServer() as server:
        server.answer_by_turn(*ANSWERS)
        clean_root = tmp_path / "clean"
        clean_root.mkdir()
        began = time.monotonic()
        proc = start(["new", "do it", *_args(server)], env=env, cwd=clean_root)
        out, err = proc.communicate(timeout=60)
        span = time.monotonic() - began
        assert proc.returncode == 0, err
        clean_notes = (clean_root / "notes.txt").read_text()
        killed_early = 0
        for n in range(ROUNDS):
            root = tmp_path / f"round{n}"
            root.mkdir()
            proc = start(["new", "do it", *_args(server)], env=env, cwd=root)
            time.sleep(rng.uniform(0.0, span * 1.1))
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            folder = sessions_folder(root)
            killed_early += not folder.is_dir() or not any(folder.glob("*.sqlite"))
            answer = _finish(server, root, env)
            assert answer == out.strip() == "all done"
            assert (root / "notes.txt").read_text() == clean_notes
            log = (root / "log.txt").read_text().splitlines() if (root / "log.txt").exists() else []
            assert sorted(set(log)) == sorted(log) and set(log) <= {"step", "again"}  # never twice
            db = next((sessions_folder(root)).glob("*.sqlite"))
            statuses = {r["status"] for r in rows(db, "SELECT status FROM tool_calls")}
            assert statuses <= {"done", "interrupted"}
            assert rows(db, "SELECT status FROM prompts")[0]["status"] == "done"
            assert rows(db, "SELECT count(*) AS n FROM model_calls WHERE status = 'pending'")[0]["n"] == 0
        print(f"{ROUNDS} kills, {killed_early} before the session file existed, run span {span:.2f}s")
