"""End to end in a real terminal at 80 columns, through tmux: what a new user would do.

Skipped where tmux is absent. One long test: start, approve an edit seen as a diff,
read the Markdown answer, /undo, /diff, queue a prompt while a command runs, Ctrl-C
the command, /exit, then ``agentcli resume`` and pick the session from the list.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import time

import pytest
from agent_harness import rows, sessions_folder
from openai_answers import text_answer, tool_answer, tool_call
from tmux import WIDTH, Tmux

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]



def _lines_fit(screen: str) -> None:
    for line in screen.splitlines():
        assert len(line) <= WIDTH, line
    assert "\x1b" not in screen and "[0m" not in screen and "##" not in screen


def test_a_new_user_at_80_columns(tmp_path, openai_server, env):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    openai_server.script(
        tool_answer(tool_call("edit_file", {"path": "calc.py", "old_string": "return a - b",
                                            "new_string": "return a + b"})),
        text_answer("## Fixed\n\nThe sign was **wrong**; `add` now adds.\n\n- one\n- two\n",
                    chunk_delay=0.01),
        tool_answer(tool_call("run_shell", {"command": "echo started; sleep 60"})),
        text_answer("hi there"),
    )
    agentcli = f"{shlex.quote(sys.executable)} -m agentcli"
    term = Tmux(f"{agentcli} --base-url {openai_server.base_url}", workspace, env)
    try:
        term.expect("approval ask")
        time.sleep(0.3)
        term.type("fix add in @calc.py")
        screen = term.expect("[y/n/a/r]")
        assert "-    return a - b" in screen and "+    return a + b" in screen
        term.type("y")
        screen = term.expect("context left")
        assert "Fixed" in screen and "**" not in screen and "• one" in screen
        assert (workspace / "calc.py").read_text().endswith("a + b\n")

        term.type("/undo")
        term.expect("rolled back to checkpoint 1")
        assert (workspace / "calc.py").read_text().endswith("a - b\n")
        term.type("/diff 1")
        term.expect("no changes since checkpoint 1")

        term.type("run the slow check")
        screen = term.expect("[y/n/r]")  # a compound command: "always" is not offered
        assert "a always" not in screen.split("run_shell wants to run")[-1]
        term.type("y")
        term.expect("│ started")  # the live tail of the running command
        term.type("and then say hi")
        term.expect("queued for the next turn")
        term.send("C-c")
        term.expect("turn stopped")
        term.expect("1 queued prompt kept")
        term.send("Enter")  # runs what was queued
        term.expect("hi there")
        term.expect("context left", times=3)  # the third footer: that turn is over
        term.type("/exit")
        screen = term.expect("agentcli resume ")
        _lines_fit(screen)
    finally:
        term.close()
    db = next(sessions_folder(workspace).glob("*.sqlite"))
    statuses = [r["status"] for r in rows(db, "SELECT status FROM prompts ORDER BY id")]
    assert statuses == ["done", "cancelled", "done"]

    term = Tmux(f"{agentcli} resume --base-url {openai_server.base_url}", workspace, env)
    try:
        screen = term.expect("resume which?")
        assert db.stem in screen and "fix add in @calc.py" in screen
        term.send("Enter")
        term.expect("last prompt: and then say hi")
        term.expect("hi there")
        term.expect("Alt-Enter: new line")  # the prompt is up: keys typed before it are dropped
        term.type("/exit")
        _lines_fit(term.expect(f"agentcli resume {db.stem}"))
    finally:
        term.close()


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (bwrap)")
def test_running_outside_the_sandbox_is_asked_even_in_full_auto(tmp_path, openai_server, env):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    target = tmp_path / "outside.txt"
    why = "the user asked for the file beside the repository"
    openai_server.script(
        tool_answer(tool_call("run_shell", {"command": f"echo out > {target}", "sandbox": False,
                                            "justification": why})),
        text_answer("wrote it"),
    )
    agentcli = f"{shlex.quote(sys.executable)} -m agentcli"
    term = Tmux(f"{agentcli} --approval full-auto --base-url {openai_server.base_url}", workspace, env)
    try:
        term.expect("approval full-auto")
        time.sleep(0.3)
        term.type("put the file beside the repository")
        screen = term.expect("allow? [y/n/r]")
        assert "run_shell wants to run OUTSIDE THE SANDBOX:" in screen and f"why: {why}" in screen
        assert "[y/n/a/r]" not in screen and "\n  a " not in screen  # no "always" to choose
        term.type("a")
        term.expect("cannot be allowed always (it would run outside the sandbox)")
        term.type("y")
        screen = term.expect("context left")  # the turn is over
        assert "wrote it" in screen and target.read_text() == "out\n"
        assert "unsandboxed" in screen
        term.type("/exit")
        _lines_fit(term.expect("agentcli resume "))
    finally:
        term.close()
    db = next(sessions_folder(workspace).glob("*.sqlite"))
    call = rows(db, "SELECT sandbox, approval, status FROM tool_calls")[0]
    assert (call["sandbox"], call["approval"], call["status"]) == ("outside", "allowed", "done")
    assert rows(db, "SELECT count(*) AS n FROM approvals")[0]["n"] == 0  # nothing granted for later
