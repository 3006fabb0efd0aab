"""No junk sessions (issue 24): a session file exists only once it holds a prompt.

An empty terminal leaves nothing; ``/new`` makes nothing until its first prompt; a run
refused before any model call (a budget that cannot be kept, a bad setting) leaves no
file; a closed session leaves no ``.lock`` beside it, and the lock that now comes and
goes still lets one writer in at a time.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from agent_harness import agentcli, sessions_folder
from openai_answers import text_answer
from terminal_harness import TerminalHarness

from agentcli.errors import SessionBusyError
from agentcli.store.lock import WriterLock, is_locked


def _files(workspace: Path) -> list[str]:
    folder = sessions_folder(workspace)
    return sorted(p.name for p in folder.iterdir() if p.name != ".gitignore") if folder.exists() else []


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "tconfig"
    (config / "agentcli").mkdir(parents=True)
    (config / "agentcli" / "config.toml").write_text("retry_max_wait = 0.01\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return config


@pytest.mark.parametrize("flags", [
    ["--model", "mystery", "--max-cost", "1"],  # no price: the budget cannot be kept
    ["--approval", "sometimes"],
    ["--max-turns", "0"],
])
def test_a_run_refused_before_any_model_call_leaves_no_file(openai_server, workspace, env, flags):
    run = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url, *flags], env=env, cwd=workspace)
    assert run.code == 2 and run.stderr.count("\n") == 1, run.stderr
    assert openai_server.requests == []
    assert _files(workspace) == []


def test_a_bad_shell_env_setting_is_refused_before_a_file_is_made(openai_server, workspace, env):
    config = Path(env["XDG_CONFIG_HOME"]) / "agentcli" / "config.toml"
    config.write_text(config.read_text() + 'shell_env = {include = "HOME"}\n')
    run = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 2, run.stderr
    assert _files(workspace) == []


def test_a_finished_run_leaves_its_file_and_no_lock(openai_server, workspace, env):
    openai_server.script(text_answer("hello"))
    run = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert _files(workspace) == [f"{run.session_id}.sqlite"]


def test_an_empty_terminal_session_creates_nothing(workspace, openai_server, user_config):
    with TerminalHarness(workspace, openai_server) as term:
        term.expect("agentcli · new session")
        term.type("/status\r")
        term.expect("no session yet")
        term.type("/plan\r")
        term.expect("/plan: no session yet")
        term.type("/exit\r")
        term.finish()
    assert "bye — no prompt was sent, so no session was made" in term.screen
    assert _files(workspace) == [] and openai_server.requests == []


def test_ctrl_d_at_an_empty_terminal_creates_nothing(workspace, openai_server, user_config):
    with TerminalHarness(workspace, openai_server) as term:
        term.type("\x04")
        term.finish()
    assert term.code == 0
    assert _files(workspace) == []


def test_the_first_prompt_makes_the_file_and_new_makes_the_next_with_its_prompt(workspace, openai_server,
                                                                               user_config):
    openai_server.script(text_answer("one"), text_answer("two"))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("/model gpt-4.1\r")
        term.expect("the session your first prompt starts uses it")
        assert _files(workspace) == []
        term.type("first\r")
        term.expect("one")
        first = term.session.id
        assert _files(workspace)[0].startswith(first)
        term.type("/new\r")
        term.expect("new session: it starts with your next prompt")
        assert not (sessions_folder(workspace) / f"{first}.sqlite.lock").exists()  # its engine is closed
        term.type("second\r")
        term.expect("two")
        second = term.session.id
        term.type("/exit\r")
        term.finish()
    assert first != second
    assert _files(workspace) == sorted([f"{first}.sqlite", f"{second}.sqlite"])
    assert [r.body["model"] for r in openai_server.requests] == ["gpt-4.1", "gpt-4.1"]
    assert f"agentcli resume {second}" in term.screen


def test_a_crashed_holders_lock_file_is_reused_and_then_removed(tmp_path):
    path = tmp_path / "s.sqlite.lock"
    path.write_text('{"pid": 1}')  # what a killed holder leaves: a file nobody holds
    assert not is_locked(path)
    lock = WriterLock(path)
    lock.acquire()
    assert is_locked(path)
    with pytest.raises(SessionBusyError):
        WriterLock(path).acquire()
    lock.release()
    assert not path.exists() and not is_locked(path)


def test_a_lock_that_comes_and_goes_still_admits_one_holder_at_a_time(tmp_path):
    """Takers race releasers that remove the file: never two holders at once."""
    path = tmp_path / "s.sqlite.lock"
    inside = tmp_path / "inside"
    stop = threading.Event()
    held, clashes = [0], []

    def worker() -> None:
        while not stop.is_set():
            lock = WriterLock(path)
            try:
                lock.acquire()
            except SessionBusyError:
                continue
            try:
                fd = os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails if another is inside
            except FileExistsError:
                clashes.append(1)
            else:
                os.close(fd)
                held[0] += 1
                os.unlink(inside)
            finally:
                lock.release()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    stop.wait(1.5)
    stop.set()
    for thread in threads:
        thread.join()
    assert clashes == [] and held[0] > 50
    assert not path.exists()


def test_a_signal_at_an_empty_terminal_exits_130_and_creates_nothing(workspace, openai_server, user_config):
    with TerminalHarness(workspace, openai_server) as term:
        term.wait_idle()
        term.repl.stop("SIGTERM")  # what the signal handler calls
        term.finish()
    assert term.code == 130
    assert _files(workspace) == []
