"""Issue 28 (and issue 20's minor on the input history): what redaction replaces is never
written in clear, in any byte of any file agentcli writes.

Rows that read ``***`` are not enough: a superseded cell survives in the database's free
pages, a WAL frame keeps an older page, the terminal's history file keeps what was typed.
So every value is redacted before its first write, ``secure_delete`` zeroes what SQLite
frees, and the history stores what the session stores. The tests scan bytes, as
``strings`` or ``grep -c`` would: while a run is going on (session file, WAL, -shm, lock),
after it, after a resume, and after a turn typed at a real terminal (tmux).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from agent_harness import API_KEY, agentcli, sessions_folder, start
from openai_answers import Answer, text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer

SHAPED = "ghp_" + "R2d2C3po" * 5  # a GitHub token's shape: redacted though nobody configured it
SECRETS = (API_KEY, SHAPED)
PROMPT = f"deploy with key {API_KEY} and token {SHAPED} please"


def clear_copies(root: Path) -> dict[str, int]:
    """Every file under ``root`` that holds a secret in clear, and how many times."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            count = sum(data.count(secret.encode()) for secret in SECRETS)
            if count:
                found[str(path.relative_to(root))] = count
    return found


def test_a_prompt_with_secrets_leaves_no_clear_byte_in_the_session_files(
    openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]
) -> None:
    hold = threading.Event()
    stalled = text_answer(f"noted: {API_KEY} {SHAPED}", hold=hold, chunk_size=4)
    openai_server.script(
        tool_answer(tool_call("update_plan", {"items": [{"title": f"use {SHAPED}", "status": "pending"}]})),
        tool_answer(tool_call("run_shell", {"command": f"echo {SHAPED} | wc -c"})),
        stalled,
    )
    run = start(["new", PROMPT, "-p", "--base-url", openai_server.base_url, "--approval", "full-auto"],
                env=env, cwd=workspace)
    try:
        assert stalled.held.wait(30), "the run never reached its third model call"
        state = workspace / ".agentcli"
        assert any(p.name.endswith("-wal") for p in sessions_folder(workspace).iterdir())
        assert clear_copies(state) == {}  # while it runs: the file, its WAL and -shm, the lock
    finally:
        hold.set()
        out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert out.strip() == "noted: *** ***"
    openai_server.script(text_answer(f"again {API_KEY}"), text_answer("told"))
    for args in (["resume", "last", f"once more {PROMPT}", "-p"],
                 ["resume", "last", "the last", "-p", "--max-turns", "3"]):
        again = agentcli([*args, "--base-url", openai_server.base_url], env=env, cwd=workspace)
        assert again.code == 0, again.stderr
    exported = workspace / "export.md"
    assert agentcli(["export", "last", "-o", str(exported)], env=env, cwd=workspace).code == 0
    assert clear_copies(workspace) == {}
    assert "***" in exported.read_text()
    assert SHAPED not in str(openai_server.requests[-1].body)  # nor does the model get them


def test_a_superseded_cell_does_not_linger_in_free_pages(tmp_path: Path) -> None:
    """What is no longer in a row is no longer in the file: ``secure_delete`` zeroes freed
    pages and cells (without it, 395 copies of this value stayed in the freed overflow pages)."""
    from agentcli.session.session import Session

    gone = "superseded-value-0123456789"
    session = Session.create(tmp_path / "s.sqlite", workspace_root=tmp_path, prompt="first")
    session.update_meta(title=gone)
    session.update_meta(settings={"note": gone * 400})  # spills into overflow pages
    session.update_meta(title="short", settings={})
    session.close()
    assert sum(path.read_bytes().count(gone.encode()) for path in tmp_path.iterdir()) == 0


def test_the_input_history_stores_what_the_session_stores(workspace: Path, env: dict[str, str]) -> None:
    from agentcli.cli.terminal.inputs import history_path, open_history
    from agentcli.session.redaction import Redactor

    redactor = Redactor([API_KEY])
    history = open_history(workspace, redact=redactor.text)
    history.append_string(PROMPT)
    text = history_path(workspace).read_text()
    assert API_KEY not in text and SHAPED not in text and "key *** and token ***" in text
    assert list(open_history(workspace).load_history_strings()) == [redactor.text(PROMPT)]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_turn_at_the_terminal_leaves_no_clear_byte(tmp_path: Path, env: dict[str, str]) -> None:
    from test_terminal_tmux import Tmux

    workspace = tmp_path / "ws"
    workspace.mkdir()
    with ScriptedOpenAIServer() as server:
        server.script(text_answer(f"terminal answer {API_KEY} {SHAPED}"),
                      Answer(content=f"second {SHAPED}"))
        agentcli_command = f"{shlex.quote(sys.executable)} -m agentcli"
        term = Tmux(f"{agentcli_command} --base-url {server.base_url}", workspace, env)
        try:
            term.expect("approval ask")
            term.expect("Alt-Enter: new line")  # the prompt is up: keys typed before it are dropped
            term.type(PROMPT)
            term.expect("terminal answer")  # streamed as it comes (the scripted model knows the key)
            term.expect("context left")  # the turn is over
            term.type(f"and {SHAPED} again")
            term.expect("second")
            term.expect("context left", times=2)
            term.type("/exit")
            term.expect("agentcli resume ")
        finally:
            term.close()
    assert clear_copies(workspace) == {}
    history = (workspace / ".agentcli" / "history").read_text()
    assert "key *** and token ***" in history and "and *** again" in history
    grep = subprocess.run(["grep", "-rc", API_KEY, str(workspace / ".agentcli")], capture_output=True,
                          text=True)  # "grep -c of the key over .agentcli/ finds nothing" (issue 28)
    assert grep.stdout and all(line.endswith(":0") for line in grep.stdout.splitlines())
