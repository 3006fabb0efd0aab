"""A full disk is one clear line, and what was recorded stays readable."""

from __future__ import annotations

import os
import sqlite3
import subprocess
from pathlib import Path

import pytest
from agent_harness import agentcli


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_disk_full_is_one_line_and_loses_nothing(small_disk, tmp_path, openai_server, env):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    sessions = small_disk / "sessions"
    run = agentcli(["new", "-", "-p", "--base-url", openai_server.base_url,
                    "--sessions-dir", str(sessions)], env=env, cwd=workspace, stdin="x" * 400_000)
    assert run.code == 1, run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("agentcli: the disk is full")
    assert "Traceback" not in run.stderr
    assert openai_server.requests == []
    listed = agentcli(["list", "--json", "--sessions-dir", str(sessions)], env=env, cwd=workspace)
    assert listed.code == 0, listed.stderr


def test_an_answer_that_cannot_be_stored_is_recorded_as_such(tmp_path):
    """The answer's transaction fails (as on a full disk): its audit row says the answer
    arrived and was not stored, and the transcript holds no half of it."""
    from agentcli.agent.audit import AuditedRequest
    from agentcli.agent.model.protocol import Attempt
    from agentcli.agent.model.reply import reply_from_response
    from agentcli.session.directory import SessionDirectory

    with SessionDirectory(tmp_path / "s").create(workspace_root=tmp_path) as session:
        audit = AuditedRequest(session, "orchestrator", prompt_id=None, message_ids=[], emit=lambda e: None)
        attempt = Attempt(0, {"model": "m"}, "m", "h", 0.0, http_status=200, latency_ms=5)
        audit.started(attempt)
        reply = reply_from_response({"choices": [{"message": {"role": "assistant", "content": "hi"},
                                                  "finish_reason": "stop"}]})
        session.db.execute("CREATE TRIGGER full BEFORE INSERT ON messages "
                           "BEGIN SELECT RAISE(FAIL, 'database or disk is full'); END")
        with pytest.raises(sqlite3.Error):
            audit.ended(attempt, reply)
        [call] = session.model_calls.all()
        assert call.status == "error" and "arrived but could not be stored" in call.error
        assert [m.role for m in session.transcript.all()] == []
