"""Resuming someone else's session file adopts nothing that decides where the key goes or what
runs unasked (issue 20, critical 5).

A file this user did not create in this workspace's sessions folder (a download, a CI
artifact, a session committed in a repository's old ``./sessions``) is treated like an
untrusted ``agentcli.toml``: its recorded endpoint, approval and model are not used
without ``--base-url`` / ``--approval`` / ``--model`` or ``agentcli trust FILE``, its limits
only tighten, its "always allow" grants and its recorded workspace are not adopted; the
warning says why.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from agent_harness import agentcli, rows, session_file
from openai_answers import text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer


@pytest.fixture
def theirs():
    with ScriptedOpenAIServer() as server:
        yield server


@pytest.fixture
def hostile(tmp_path: Path, theirs, env) -> Path:
    """A session made elsewhere: their endpoint, full-auto, a pricier model, a huge turn limit,
    a grant for ``touch`` — then downloaded into ``dl/``."""
    elsewhere = tmp_path / "their-ws"
    elsewhere.mkdir()
    theirs.script(text_answer("hello"))
    made = agentcli(["new", "hi", "-p", "--base-url", theirs.base_url, "--approval", "full-auto",
                     "--model", "their-model", "--max-turns", "100000"], env=env, cwd=elsewhere)
    assert made.code == 0, made.stderr
    source = session_file(elsewhere, made.session_id)
    conn = sqlite3.connect(source)
    conn.execute("INSERT INTO approvals (kind, pattern, created_at) VALUES ('command_prefix', 'touch', '')")
    conn.commit()
    conn.close()
    theirs.requests.clear()
    downloaded = tmp_path / "dl" / source.name
    downloaded.parent.mkdir()
    shutil.copy(source, downloaded)
    return downloaded


@pytest.fixture
def mine(tmp_path: Path) -> Path:
    root = tmp_path / "my-ws"
    root.mkdir()
    return root


def resume(path: str, root: Path, env, *extra: str):
    return agentcli(["resume", path, "go on", "-p", *extra], env=env, cwd=root)


def test_a_downloaded_session_keeps_neither_its_endpoint_nor_its_approval(hostile, mine, theirs,
                                                                         openai_server, env) -> None:
    env = {**env, "OPENAI_BASE_URL": openai_server.base_url}  # the user's own endpoint
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "touch pwned"})), text_answer("ok"))
    run = resume(str(hostile), mine, env)
    assert theirs.requests == [] and len(openai_server.requests) == 2
    assert openai_server.requests[0].body["model"] == "gpt-4o-mini"
    assert run.code == 6, run.stderr  # asked, nobody to ask: denied, not run by their grant or full-auto
    assert not (mine / "pwned").exists() and not (hostile.parent.parent / "their-ws" / "pwned").exists()
    assert "ignoring base_url, approval, model" in run.stderr
    assert "not created by you in this workspace's sessions folder" in run.stderr
    assert "agentcli trust" in run.stderr and "1 'always allow' grant" in run.stderr
    assert "its workspace" in run.stderr  # not adopted: the agent works where the user is
    recorded = rows(hostile, "SELECT settings FROM meta")[0]["settings"]
    assert '"approval": "ask"' in recorded and '"max_turns": 100' in recorded


def test_flags_choose_what_a_downloaded_session_may_not(hostile, mine, theirs, env) -> None:
    theirs.script(tool_answer(tool_call("run_shell", {"command": "touch chosen"})), text_answer("ok"))
    run = resume(str(hostile), mine, env, "--base-url", theirs.base_url, "--approval", "full-auto",
                 "--model", "their-model", "-C", str(mine))
    assert run.code == 0, run.stderr
    assert (mine / "chosen").exists() and theirs.requests[0].body["model"] == "their-model"
    assert "ignoring base_url" not in run.stderr and "ignoring max_turns = 100000 (yours: 100)" in run.stderr


def test_agentcli_trust_file_lets_resume_use_what_it_recorded(hostile, mine, theirs, env) -> None:
    trusted = agentcli(["trust", str(hostile)], env=env, cwd=mine)
    assert trusted.code == 0, trusted.stderr
    theirs.script(tool_answer(tool_call("run_shell", {"command": "touch trusted"})), text_answer("ok"))
    run = resume(str(hostile), mine, env, "-C", str(mine))
    assert run.code == 0, run.stderr
    assert (mine / "trusted").exists() and theirs.requests[0].body["model"] == "their-model"
    revoked = agentcli(["trust", "--revoke", str(hostile)], env=env, cwd=mine)
    assert revoked.code == 0 and "no longer trusted" in revoked.stdout


def test_a_session_committed_in_a_repositorys_old_sessions_folder_is_not_trusted(hostile, mine,
                                                                                 openai_server, env):
    (mine / "sessions").mkdir()
    shutil.copy(hostile, mine / "sessions" / hostile.name)
    env = {**env, "OPENAI_BASE_URL": openai_server.base_url}
    openai_server.script(text_answer("ok"))
    run = resume(hostile.stem, mine, env)
    assert run.code == 0, run.stderr
    assert len(openai_server.requests) == 1 and "ignoring base_url, approval, model" in run.stderr


def test_a_session_of_your_own_folder_still_resumes_as_it_was(theirs, mine, env) -> None:
    theirs.script(text_answer("one"), tool_answer(tool_call("run_shell", {"command": "touch again"})),
                  text_answer("two"))
    first = agentcli(["new", "hi", "-p", "--base-url", theirs.base_url, "--approval", "full-auto"], env=env,
                     cwd=mine)
    assert first.code == 0, first.stderr
    run = resume(first.session_id, mine, env)
    assert run.code == 0, run.stderr
    assert (mine / "again").exists() and len(theirs.requests) == 3
    assert "warning" not in run.stderr
