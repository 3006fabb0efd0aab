"""A command's output stays readable: previews under tool lines, /output N, the pager's text."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from openai_answers import text_answer, tool_answer, tool_call
from terminal_harness import TerminalHarness

from agentcli.cli.terminal.previews import preview


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("".join(f"note {i}\n" for i in range(1, 41)))
    config = tmp_path / "config"
    (config / "agentcli").mkdir(parents=True)
    (config / "agentcli" / "config.toml").write_text("retry_max_wait = 0.01\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return root.resolve()


def _shell(output: str, exit_code: int = 0, **more: object) -> dict:
    text = output + f"[exit code: {exit_code}]"
    data = {"name": "run_shell", "status": "done", "exit_code": exit_code, "output": text[:400],
            "output_lines": text.count("\n") + 1, **more}
    if len(text) > 400:
        data["output_tail"] = text[-400:]
    return data


def _plain(text) -> list[str]:
    return text.plain.splitlines() if text is not None else []


def test_a_long_output_keeps_its_head_and_says_how_many_lines_are_left() -> None:
    lines = _plain(preview(_shell("".join(f"{i}\n" for i in range(1, 31))), 4, 80))
    assert lines == ["  │ 1", "  │ 2", "  │ 3", "  │ 4", "  │ 5",
                     "  … +25 lines · /output 4 (Ctrl-O: the last)"]


def test_a_failure_keeps_its_tail_where_it_says_why() -> None:
    body = "".join(f"step {i}\n" for i in range(1, 200)) + "error: the disk is full\n"
    lines = _plain(preview(_shell(body, 2), 7, 80))
    assert lines[0] == "  … +195 lines above · /output 7 (Ctrl-O: the last)"
    assert lines[1:] == ["  │ step 196", "  │ step 197", "  │ step 198", "  │ step 199",
                         "  │ error: the disk is full"]


def test_a_short_output_is_shown_whole_and_no_output_shows_nothing() -> None:
    assert _plain(preview(_shell("a\nb\nc\n"), 1, 80)) == ["  │ a", "  │ b", "  │ c"]
    assert _plain(preview(_shell("1\n2\n3\n4\n5\n6\n"), 1, 80))[-1] == "  │ 6"  # not "+1 line"
    assert preview(_shell("(no output)\n"), 1, 80) is None
    assert preview({**_shell("x\n"), "status": "denied"}, 1, 80) is None


@pytest.mark.parametrize("width", [40, 80, 200])
def test_preview_lines_fit_the_width_in_cells(width: int) -> None:
    body = "".join(("宽" * 150 if i % 2 else "x" * 300) + "\n" for i in range(12))
    from rich.cells import cell_len

    for data in (_shell(body), _shell(body, 1)):
        lines = _plain(preview(data, 12, width))
        assert lines and all(cell_len(line) <= width - 1 for line in lines), lines


def test_reads_and_searches_keep_a_brief_head() -> None:
    text = "".join(f"{n:>6}\tline {n}\n" for n in range(1, 41))
    data = {"name": "read_file", "status": "done", "output": text[:400], "output_tail": text[-400:],
            "output_lines": 40}
    assert _plain(preview(data, 2, 80)) == ["  │      1  line 1", "  │      2  line 2", "  │      3  line 3",
                                            "  … +37 lines · /output 2 (Ctrl-O: the last)"]
    assert preview({**data, "status": "failed", "is_error": True}, 2, 80) is None


def test_output_n_shows_a_whole_command_output_and_numbers_follow_the_session(workspace, openai_server):
    openai_server.script(
        tool_answer(tool_call("run_shell", {"command": "seq 1 30"})),
        tool_answer(tool_call("read_file", {"path": "notes.txt"})),
        text_answer("read them"),
        tool_answer(tool_call("run_shell", {"command": "seq 100 140; exit 3"})),
        text_answer("that failed"),
    )
    with TerminalHarness(workspace, openai_server, approval="full-auto", flags={"sandbox": "off"}) as term:
        term.type("count\r")
        screen = term.expect("read them")
        assert "  │ 1\n  │ 2\n  │ 3\n  │ 4\n  │ 5\n  … +25 lines · /output 1 (Ctrl-O: the last)" in screen
        assert "  │      1  note 1\n" in screen and "+37 lines · /output 2" in screen
        term.type("/output 1\r")
        screen = term.expect("end of the output")
        whole = screen[screen.rindex("output 1 · run_shell $ seq 1 30 · exit 0"):]
        assert "\n".join(str(n) for n in range(1, 31)) + "\n[exit code: 0]" in whole
        term.type("again\r")
        screen = term.expect("that failed")
        assert "+36 lines above · /output 3" in screen and "  │ 140\n" in screen
        term.type("/output\r")  # the last one
        screen = term.expect("end of the output")
        assert "output 3 · run_shell $ seq 100 140; exit 3 · exit 3" in screen
        term.type("/output 4\r")
        term.expect("no output 4: this session has outputs 1 to 3")
        term.type("/output last\r")
        term.expect("/output: give the number shown under a tool line")
        term.type("/exit\r")
        term.finish()


def test_output_numbers_go_on_after_a_resume(workspace, openai_server):
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "seq 1 9"})), text_answer("one"))
    with TerminalHarness(workspace, openai_server, approval="full-auto", flags={"sandbox": "off"}) as term:
        term.type("first\r")
        term.expect("one")
        term.type("/exit\r")
        term.finish()
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "seq 1 20"})), text_answer("two"))
    with TerminalHarness(workspace, openai_server, approval="full-auto", flags={"sandbox": "off"},
                         resume="last") as term:
        term.type("second\r")
        screen = term.expect("two")
        assert "+15 lines · /output 2" in screen
        term.type("/output 2\r")
        screen = term.expect("end of the output")
        assert "output 2 · run_shell $ seq 1 20" in screen and "\n20\n[exit code: 0]" in screen
        term.type("/exit\r")
        term.finish()


def test_a_command_typed_while_a_command_runs_prints_in_its_own_marked_block(workspace, openai_server):
    openai_server.script(
        tool_answer(tool_call("update_plan", {"items": [{"title": "count to three",
                                                          "status": "in_progress"}]})),
        tool_answer(tool_call("run_shell", {"command": "echo started; sleep 1.5; echo finished"})),
        text_answer("counted"),
    )
    with TerminalHarness(workspace, openai_server, approval="full-auto", flags={"sandbox": "off"}) as term:
        term.type("count\r")
        term.expect("[>] count to three")
        time.sleep(0.5)  # the command runs
        term.keys("/plan\r")
        screen = term.expect("counted")
        term.type("/exit\r")
        term.finish()
    block = screen[screen.index("› /plan"):]
    assert block.startswith("› /plan\n  [>] count to three\n"), block  # echoed, then its output
    assert block.index("count to three") < block.index("✓ run_shell")


def test_a_command_typed_while_the_answer_streams_waits_for_the_answers_end(workspace, openai_server):
    answer = ("First block of the answer.\n\n" + "".join(f"Block {n} goes on.\n\n" for n in range(2, 12))
              + "Last.")
    openai_server.script(text_answer(answer, chunk_delay=0.05, chunk_size=4))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("explain\r")
        term.expect("First block of the answer.")
        term.keys("/status\r")
        term.expect("context left")
        term.type("/exit\r")
        term.finish()
    screen = term.screen
    streamed = screen[screen.index("First block"):screen.index("Last.") + 5]
    blocks = [line.strip() for line in streamed.splitlines()]
    assert blocks == ["First block of the answer.", ""] + sum(
        ([f"Block {n} goes on.", ""] for n in range(2, 12)), []) + ["Last."]  # whole, one blank line apart
    after = screen[screen.index("Last."):]
    assert "› /status\nsession " in after  # its block came once the answer had ended


def test_a_command_that_changes_the_session_typed_while_the_agent_works_runs_after_the_turn(
        workspace, openai_server):
    openai_server.script(
        tool_answer(tool_call("write_file", {"path": "made.txt", "content": "x\n"})),
        tool_answer(tool_call("run_shell", {"command": "sleep 1.5"})),
        text_answer("made it"),
    )
    with TerminalHarness(workspace, openai_server, approval="full-auto", flags={"sandbox": "off"}) as term:
        term.type("make it\r")
        term.expect("✓ write_file made.txt")
        time.sleep(0.3)  # the command runs
        term.keys("/undo\r")
        term.expect("/undo runs once this turn has ended (Esc or Ctrl-C stops the turn now)")
        assert (workspace / "made.txt").exists()  # not yet: the turn goes on
        term.keys("/exit\r")
        screen = term.expect("agentcli resume ")
        term.finish()
    after = screen[screen.index("made it"):]
    assert "› /undo\nrolled back to checkpoint 1" in after and after.index("› /undo") < after.index("› /exit")
    assert not (workspace / "made.txt").exists()
