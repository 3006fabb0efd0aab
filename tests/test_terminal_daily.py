"""The terminal as a daily driver, in a real terminal at 80 columns (tmux), screens asserted.

One test per thing a person meets every day (issue 24): a command's output kept readable
and paged whole, the scout table, the slash commands' tables, commands typed while the
agent works, Esc, the answer's Markdown with and without colour, one-key approvals and
retries. Skipped where tmux is absent.
"""

from __future__ import annotations

import re
import shlex
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest
from agent_harness import rows, sessions_folder
from openai_answers import error_answer, text_answer, tool_answer, tool_call
from tmux import WIDTH, Tmux

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")]

AGENTCLI = f"{shlex.quote(sys.executable)} -m agentcli"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


def _start(workspace: Path, env: dict[str, str], server, flags: str = "", prefix: str = "") -> Tmux:
    term = Tmux(f"{prefix}{AGENTCLI} --base-url {server.base_url} {flags}", workspace, env)
    term.expect("Alt-Enter: new line")  # the prompt is up
    return term


def _pane(term: Tmux, colours: bool = False) -> str:
    """The visible screen only (no scrollback): where the live area is."""
    return term._tmux("capture-pane", "-p", *(["-e"] if colours else []), "-t", term.name, capture=True)


def _fits(screen: str) -> str:
    for line in screen.splitlines():
        assert len(line) <= WIDTH, line
    return screen


def _until(term: Tmux, predicate, what: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        pane = _pane(term)
        if predicate(pane):
            return pane
        assert time.monotonic() < deadline, f"never saw {what} on:\n{pane}"
        time.sleep(0.05)


def test_output_stays_readable_and_ctrl_o_pages_it_whole_even_while_the_agent_works(
        workspace, openai_server, env):
    openai_server.script(
        tool_answer(tool_call("run_shell", {"command": "seq 1 30"})),
        tool_answer(tool_call("run_shell", {"command": "sleep 2; echo later"})),
        text_answer("all counted"),
    )
    term = _start(workspace, env, openai_server, "--approval full-auto --sandbox off")
    try:
        term.type("count")
        screen = term.expect("+25 lines · /output 1 (Ctrl-O: the last)")
        assert "✓ run_shell $ seq 1 30" in screen and "\n  │ 1\n  │ 2\n  │ 3\n  │ 4\n  │ 5\n" in screen
        _until(term, lambda pane: "running $ sleep 2" in pane, "the second command running")
        term.send("C-o")  # while it runs: the last output, whole
        pager = _until(term, lambda pane: "q quit" in pane, "the pager")
        assert pager.splitlines()[0].startswith(" output 1 · run_shell $ seq 1 30 · exit 0")
        term.send("G")
        pager = _until(term, lambda pane: "[exit code: 0]" in pane, "the end of the output")
        assert "\n30" in pager
        time.sleep(2.5)  # the command ends and the answer comes while the pager is open
        assert "all counted" not in _pane(term) and "q quit" in _pane(term)
        term.send("q")
        screen = term.expect("all counted")
        assert screen.index("✓ run_shell $ sleep 2; echo later") < screen.index("all counted")  # in order
        term.expect("context left")
        term.type("/output 1")
        _until(term, lambda pane: "q quit" in pane and " output 1 · run_shell" in pane, "/output 1")
        term.send("Escape")
        _until(term, lambda pane: "q quit" not in pane, "the pager closed")
        term.type("/exit")
        _fits(term.expect("agentcli resume "))
    finally:
        term.close()


def test_the_scout_table_fits_80_columns_with_ids_and_statuses_whole(workspace, openai_server, env):
    (workspace / "a.py").write_text("x = 1\n")
    tasks = ["TASK-A: find where the configuration file is read and which settings it knows about",
             "TASK-B: summarise the module calc.py and what calls it", "TASK-C: list the tests"]
    openai_server.script(
        tool_answer(tool_call("scout", {"tasks": tasks}), match="look around"),
        tool_answer(tool_call("read_file", {"path": "a.py"}), match="TASK-A", delay=0.5),
        text_answer("report A", match="TASK-A", delay=2.5),
        tool_answer(tool_call("search", {"pattern": "def \\w+", "glob": "*.py"}), match="TASK-B", delay=0.5),
        text_answer("report B", match="TASK-B", delay=2.5),
        text_answer("report C", match="TASK-C", delay=3),
        text_answer("looked around", match="## Scout 1"),
    )
    term = _start(workspace, env, openai_server, "--approval full-auto --sandbox off")
    try:
        term.type("look around")
        live = _until(term, lambda pane: "read_file a.py" in pane and "search def" in pane,
                      "the scouts at work")
        lines = live.splitlines()
        spinner = next(n for n, line in enumerate(lines) if "scout · " in line and "Ctrl-C stops" in line)
        assert lines[spinner + 1].split() == ["#", "scout", "task", "steps", "status", "elapsed", "doing"]
        for number in (1, 2, 3):
            row = next(line for line in lines if f"scout-1-{number} " in line)
            assert "running" in row.split(), row
        assert '{"' not in live  # what each does is said in words, not JSON
        screen = term.expect("looked around")
        final = [line for line in screen.splitlines() if re.match(r"^\s+\d scout-1-\d ", line)][-3:]
        assert all("done" in line.split() for line in final), final
        assert "TASK-A: find where the configuration" in final[0] and final[0].count("…") == 1
        _fits(screen)
        term.type("/exit")
    finally:
        term.close()


def test_log_status_and_checkpoints_fit_80_columns(workspace, openai_server, env):
    long_prompt = "please look at every module and tell me what each one does " * 3
    openai_server.script(error_answer(503, "the upstream model server is overloaded, try later " * 3),
                         text_answer("done"), text_answer("again"))
    term = _start(workspace, env, openai_server)
    try:
        term.type(long_prompt.strip())
        term.expect("context left")
        term.type("second prompt")
        term.expect("context left", times=2)
        for command in ("/log", "/status", "/checkpoints"):
            term.type(command)
        screen = term.expect(" 2 ")  # the checkpoints' last row
        time.sleep(0.3)
        screen = _fits(term.screen())
    finally:
        term.close()
    db = next(sessions_folder(workspace).glob("*.sqlite"))
    log = screen[screen.index("› /log"):screen.index("› /status")].splitlines()
    assert log[1].split()[:2] == ["ID", "TIME"] and "STATUS" in log[1]
    assert [line.split()[0] for line in log[2:5]] == ["1", "2", "3"]
    assert "error" in log[2].split() and "ok" in log[3].split() and "…" in log[2]
    assert f"session {db.stem} · please look at every module" in screen
    checkpoints = screen[screen.index("› /checkpoints"):].splitlines()
    assert checkpoints[1].split() == ["N", "created", "changes", "prompt"]
    assert checkpoints[2].split()[0] == "1" and checkpoints[2].endswith("…")


def test_a_command_typed_while_the_answer_streams_waits_for_its_end_in_a_marked_block(
        workspace, openai_server, env):
    answer = ("First block.\n\n" + "".join(f"Block {n} goes on a little.\n\n" for n in range(2, 9))
              + "Last block.")
    openai_server.script(text_answer(answer, chunk_delay=0.06, chunk_size=4))
    term = _start(workspace, env, openai_server)
    try:
        term.type("explain")
        term.expect("First block.")
        term.type("/plan")
        screen = term.expect("context left")
        time.sleep(0.2)
        screen = _fits(term.screen())
        term.type("/exit")
    finally:
        term.close()
    streamed = screen[screen.index("First block."):screen.index("Last block.")]
    expected = ["First block.", ""] + sum(([f"Block {n} goes on a little.", ""] for n in range(2, 9)), [])
    assert [line.strip() for line in streamed.splitlines()] == expected
    after = screen[screen.index("Last block."):].splitlines()
    assert after[1:3] == ["› /plan", "no plan yet"], after


def test_esc_stops_a_turn_is_harmless_when_idle_and_alt_enter_stays_a_new_line(workspace, openai_server, env):
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "sleep 30"})),
                         text_answer("two lines read"))
    term = _start(workspace, env, openai_server, "--approval full-auto --sandbox off")
    try:
        term.send("Escape")  # at the idle prompt: nothing happens
        time.sleep(0.5)
        assert "turn stopped" not in term.screen() and not (term.files / "code").exists()
        term.type("wait for it")
        _until(term, lambda pane: "running $ sleep 30" in pane, "the command running")
        term._tmux("send-keys", "-t", term.name, "-l", "first line")  # typed while it runs
        time.sleep(0.3)
        began = time.monotonic()
        term.send("Escape")
        term.expect("turn stopped")
        assert time.monotonic() - began < 3
        term.expect("context left")
        _until(term, lambda pane: pane.rstrip().endswith("› first line"), "the line kept after Esc")
        term.send("M-Enter")  # Alt-Enter: a new line in the prompt
        term.type("second line")
        term.expect("two lines read")
        term.type("/exit")
        _fits(term.expect("agentcli resume "))
    finally:
        term.close()
    db = next(sessions_folder(workspace).glob("*.sqlite"))
    prompts = rows(db, "SELECT text, status FROM prompts ORDER BY id")
    assert prompts == [{"text": "wait for it", "status": "cancelled"},
                       {"text": "first line\nsecond line", "status": "done"}]


@pytest.mark.parametrize("no_color", [False, True])
def test_markdown_at_80_columns_with_and_without_colour(workspace, openai_server, env, no_color):
    answer = ("# Fixed the adder\n\nThe `add` function was **wrong**.\n\n## What changed\n\n"
              "1. `calc.py`: `a - b` became `a + b`\n2. a test for it\n\n- ran the tests\n- all pass\n\n"
              "```python\ndef add(a, b):\n    return a + b\n```\n\nThat is all.\n")
    openai_server.script(text_answer(answer, chunk_delay=0.005))
    term = _start(workspace, env, openai_server, prefix="NO_COLOR=1 " if no_color else "")
    try:
        term.type("fix it")
        term.expect("context left")
        pane, coloured = _pane(term), _pane(term, colours=True)
        term.type("/exit")
    finally:
        term.close()
    lines = pane[pane.index("› fix it"):pane.index("That is all.") + 12].splitlines()[1:]
    if no_color:
        assert lines[:3] == ["# Fixed the adder", "", "The `add` function was wrong."]
        assert " 1. `calc.py`: `a - b` became `a + b`" in lines and "```python" in lines
        assert "## What changed" in lines
    else:
        assert lines[:3] == ["Fixed the adder", "", "The add function was wrong."]
        assert " 1. calc.py: a - b became a + b" in lines and "  def add(a, b):" in lines
        codes = {code for found in re.findall(r"\x1b\[([0-9;]*)m", coloured) for code in found.split(";")}
        assert not codes & {"40", "100", "48"}, codes  # no black (or any) background
    assert " 2. a test for it" in lines
    for above, below in zip(lines, lines[1:]):
        assert above.strip() or below.strip(), "\n".join(lines)  # never two blank lines in a row


def test_approvals_take_one_key_and_a_new_files_header_counts_its_lines(workspace, openai_server, env):
    content = "".join(f"line {n}\n" for n in range(1, 101))
    openai_server.script(
        tool_answer(tool_call("write_file", {"path": "new.txt", "content": content})),
        tool_answer(tool_call("run_shell", {"command": "echo a && echo b"})),
        text_answer("wrote it, did not run it"),
    )
    term = _start(workspace, env, openai_server, "--sandbox off")
    try:
        term.type("write and run")
        screen = term.expect("allow? [y/n/a/r]")
        assert "  create new.txt  +100 -0" in screen and "… 60 more lines (100 in all)" in screen
        term._tmux("send-keys", "-t", term.name, "-l", "y")  # one key, no Enter
        term.expect("✓ write_file new.txt")
        term.expect("allow? [y/n/r]")  # a compound command: no "always"
        term._tmux("send-keys", "-t", term.name, "-l", "a")
        term.expect("cannot be allowed always (a compound command): y allows it once")
        term._tmux("send-keys", "-t", term.name, "-l", "r")
        term.expect("tell the model why")
        term.type("not now")
        screen = term.expect("wrote it, did not run it")
        assert "allow? [y/n/a/r] › yes" in screen and "allow? [y/n/r] › no, because:" in screen
        term.type("/approval BAD")
        _fits(term.expect("invalid approval mode 'BAD' — the modes: ask, auto-edit, full-auto, read-only"))
        term.type("/exit")
    finally:
        term.close()
    assert (workspace / "new.txt").read_text() == content


def test_a_retry_is_one_line_in_place_and_a_local_refusal_gives_up_in_seconds(
        workspace, openai_server, env, tmp_path):
    config = tmp_path / "patient"
    (config / "agentcli").mkdir(parents=True)
    (config / "agentcli" / "config.toml").write_text("retry_max_wait = 5\n")
    patient = {**env, "XDG_CONFIG_HOME": str(config)}
    openai_server.script(error_answer(503, "overloaded", retry_after=1.5),
                         error_answer(503, "overloaded", retry_after=1.5), text_answer("fine now"))
    term = _start(workspace, patient, openai_server)
    try:
        term.type("hi")
        live = _until(term, lambda pane: "retrying in" in pane, "the retry line")
        assert "attempt 2 of 6" in live and "  │ the last attempt failed: HTTP 503: overloaded" in live
        _until(term, lambda pane: "attempt 3 of 6" in pane, "the same line, updated")
        screen = term.expect("fine now")
        assert "retrying" not in screen and screen.count("attempt") == 1
        assert "(answered on attempt 3; 2 failed before it: HTTP 503: overloaded)" in screen
        term.type("/exit")
    finally:
        term.close()
    (config / "agentcli" / "config.toml").write_text("")  # the default back-off: 31-36 s for others
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    term = Tmux(f"{AGENTCLI} --base-url http://127.0.0.1:{port}/v1", workspace, patient)
    try:
        term.expect("Alt-Enter: new line")
        began = time.monotonic()
        term.type("hi")
        screen = term.expect("(connection refused; 3 attempts)")
        assert time.monotonic() - began < 5
        assert "retrying" not in screen
        term.type("/exit")
    finally:
        term.close()
