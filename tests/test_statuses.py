"""A session's status tells the truth, in the same words everywhere (issue 24).

``list``, ``list --json``, ``show``, ``show --json`` and the picker all call a session by
the words of ``SESSION_STATUSES``, each defined once in the README: a turn the person
stopped is ``cancelled``, a request the endpoint refused (401) ``failed``, a spent budget
``budget``, an endpoint still down after its retries ``interrupted`` (resume goes on).
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from agent_harness import agentcli
from openai_answers import error_answer, text_answer, tool_answer, tool_call
from terminal_harness import TerminalHarness

from agentcli.session.records import SESSION_STATUSES

README = Path(__file__).resolve().parents[1] / "README.md"


def _statuses(env: dict[str, str], workspace: Path) -> tuple[str, str, str]:
    """The first session's status as ``list --json``, ``show --json`` and ``list`` say it."""
    listed = agentcli(["list", "--json"], env=env, cwd=workspace)
    shown = agentcli(["show", "last", "--json"], env=env, cwd=workspace)
    table = agentcli(["list"], env=env, cwd=workspace)
    assert listed.code == shown.code == table.code == 0, listed.stderr + shown.stderr + table.stderr
    row = table.stdout.splitlines()[1].split()
    return json.loads(listed.stdout)[0]["status"], json.loads(shown.stdout)["status"], row[1]


def test_a_401_after_an_answer_is_failed(openai_server, workspace, env):
    base = ["--base-url", openai_server.base_url]
    openai_server.script(text_answer("hello"), error_answer(401, "Incorrect API key provided"))
    assert agentcli(["new", "hi", "-p", *base], env=env, cwd=workspace).code == 0
    run = agentcli(["resume", "last", "again", "-p", *base], env=env, cwd=workspace)
    assert run.code == 3, run.stderr
    assert _statuses(env, workspace) == ("failed", "failed", "failed")


def test_a_spent_budget_is_budget(openai_server, workspace, env):
    usage = {"prompt_tokens": 600, "completion_tokens": 10, "total_tokens": 610}
    openai_server.script(tool_answer(tool_call("list_files", {}), usage=usage),
                         tool_answer(tool_call("list_files", {}), usage=usage))
    run = agentcli(["new", "list", "-p", "--max-tokens", "1000", "--base-url", openai_server.base_url],
                   env=env, cwd=workspace)
    assert run.code == 1, run.stderr
    assert _statuses(env, workspace) == ("budget", "budget", "budget")


def test_an_endpoint_down_after_its_retries_is_interrupted_and_resume_goes_on(openai_server, workspace, env):
    base = ["--base-url", openai_server.base_url]
    openai_server.script(text_answer("hello"), *[error_answer(503) for _ in range(6)], text_answer("back"))
    assert agentcli(["new", "hi", "-p", *base], env=env, cwd=workspace).code == 0
    assert agentcli(["resume", "last", "again", "-p", *base], env=env, cwd=workspace).code == 3
    assert _statuses(env, workspace) == ("interrupted", "interrupted", "interrupted")
    again = agentcli(["resume", "last", "-p", *base], env=env, cwd=workspace)
    assert again.code == 0 and again.stdout.strip() == "back", again.stderr
    assert _statuses(env, workspace) == ("idle", "idle", "idle")


@pytest.fixture
def terminal_workspace(workspace: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "tconfig"
    (config / "agentcli").mkdir(parents=True)
    (config / "agentcli" / "config.toml").write_text("retry_max_wait = 0.01\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return workspace


def test_a_turn_stopped_with_ctrl_c_is_cancelled(terminal_workspace, openai_server, env):
    hold = threading.Event()
    stalled = text_answer("Partial answer that never ends", chunk_size=4, hold=hold, hold_after=3)
    openai_server.script(stalled)
    with TerminalHarness(terminal_workspace, openai_server, prompt="talk") as term:
        assert stalled.held.wait(10)
        term.keys("\x03")
        term.expect("turn stopped")
        term.type("/exit\r")
        term.finish()
    hold.set()
    assert _statuses(env, terminal_workspace) == ("cancelled", "cancelled", "cancelled")


def test_every_status_word_is_defined_once_in_the_readme():
    text = README.read_text()
    section = text.split("### Session statuses", 1)[1].split("\n#", 1)[0]
    assert text.count("### Session statuses") == 1
    assert re.findall(r"^\| `([a-z]+)` \|", section, re.M) == list(SESSION_STATUSES)
    for word, meaning in SESSION_STATUSES.items():
        rows = re.findall(rf"^\| `{word}` \| (.+) \|$", section, re.M)
        assert len(rows) == 1, f"`{word}` is not defined exactly once in the README's status table"
        assert rows[0] == meaning, f"the README's `{word}` says {rows[0]!r}, the program {meaning!r}"
