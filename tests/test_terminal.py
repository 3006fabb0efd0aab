"""The interactive terminal, in process: pipe input, a dummy output, the scripted server."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from agent_harness import rows, sessions_folder
from openai_answers import text_answer, tool_answer, tool_call
from terminal_harness import TerminalHarness


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    config = tmp_path / "config"
    (config / "agentcli").mkdir(parents=True)
    (config / "agentcli" / "config.toml").write_text("retry_max_wait = 0.01\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return root.resolve()


def _db(workspace: Path) -> Path:
    return next(sessions_folder(workspace).glob("*.sqlite"))


def _fix(**options: object):
    return tool_answer(tool_call("edit_file", {"path": "calc.py", "old_string": "return a - b",
                                               "new_string": "return a + b"}), **options)


def test_a_prompt_streams_markdown_wrapped_at_80_columns(workspace, openai_server):
    long = "This sentence is long enough that it must wrap, and it has to wrap between words only. " * 2
    openai_server.script(text_answer(f"## Done\n\n{long}\n\n```python\nx = [1]\n```\n\n| a | b |\n|---|---|\n"
                                     "| 1 | 2 |\n", chunk_delay=0.002))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("hello\r")
        screen = term.expect("context left")
        term.type("/exit\r")
        term.finish()
    # rendered, not raw; with no colour (this console has none) a heading keeps its marks
    assert "\n## Done" in screen and "|---" not in screen and "**" not in screen
    assert "x = [1]" in screen
    lines = screen.splitlines()
    assert all(len(line) <= 80 for line in lines)
    words = long.split()
    for line in lines:  # every wrapped line ends on a whole word
        if line.strip() and line.strip() in long:
            assert line.rstrip().split()[-1] in words
    assert "agentcli resume " in term.screen
    assert rows(_db(workspace), "SELECT status FROM prompts") == [{"status": "done"}]


def test_an_edit_approval_shows_its_diff_and_a_reason_goes_back_to_the_model(workspace, openai_server):
    openai_server.script(_fix(), text_answer("ok, not changing it"))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("fix add\r")
        screen = term.expect("a always")
        assert "-    return a - b" in screen and "+    return a + b" in screen
        assert "a always allow every file edit in this session" in screen  # said before it is chosen
        term.keys("rkeep subtraction\r")  # r alone answers (no Enter); the reason is a line of its own
        term.expect("ok, not changing it")
        term.type("/exit\r")
        term.finish()
    assert (workspace / "calc.py").read_text().endswith("a - b\n")
    tool_message = [m for m in openai_server.requests[1].body["messages"] if m["role"] == "tool"][0]
    assert "keep subtraction" in tool_message["content"]
    assert "⊘ edit_file calc.py" in term.screen


def test_an_approved_shell_command_shows_whole_and_its_exit_code_in_red(workspace, openai_server):
    command = "echo " + "x" * 120 + "; exit 3"
    openai_server.script(tool_answer(tool_call("run_shell", {"command": command})), text_answer("failed"))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("run it\r")
        screen = term.expect("y yes")
        assert "x" * 70 in screen and "exit 3" in screen  # the whole command, wrapped, not cut
        term.keys("y")
        screen = term.expect("failed")
        term.type("/exit\r")
        term.finish()
    line = next(x for x in screen.splitlines() if "run_shell" in x and "✗" in x)
    assert "exit 3" in line and len(line) <= 80


def test_auto_approved_edits_show_their_diff_after_applying(workspace, openai_server):
    openai_server.script(_fix(), text_answer("fixed"))
    with TerminalHarness(workspace, openai_server, approval="auto-edit") as term:
        term.type("fix add\r")
        screen = term.expect("fixed")
        term.type("/exit\r")
        term.finish()
    assert "allow?" not in screen
    assert "✓ edit_file calc.py" in screen
    assert screen.index("+    return a + b") > screen.index("✓ edit_file")


def test_the_plan_is_drawn_as_a_checklist_when_it_changes(workspace, openai_server):
    items = [{"title": "Read", "status": "done"}, {"title": "Fix", "status": "in_progress"},
             {"title": "Test", "status": "pending"}]
    openai_server.script(tool_answer(tool_call("update_plan", {"items": items})), text_answer("planned"))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("plan it\r")
        screen = term.expect("planned")
        term.type("/plan\r")
        term.expect("[>] Fix")
        term.type("/exit\r")
        term.finish()
    assert "[x] Read" in screen and "[>] Fix" in screen and "[ ] Test" in screen


def test_a_partial_undo_says_so_and_names_what_it_left(workspace, openai_server):
    """issue 20, Major 2: /undo and /rollback say when a path could not be put back."""
    openai_server.script(_fix(), text_answer("fixed"))
    with TerminalHarness(workspace, openai_server, approval="auto-edit") as term:
        term.type("fix add\r")
        term.expect("fixed")
        calc = workspace / "calc.py"
        calc.unlink()
        calc.mkdir()
        (calc / "mine.txt").write_text("the user's own file\n")
        term.type("/undo\r")
        term.expect("nothing was rolled back")
        term.type("/undo --force\r")
        screen = term.expect("is partial")
        term.type("/exit\r")
        term.finish()
    assert "not restored: calc.py is now a folder" in screen
    assert "1 path(s) not restored (calc.py)" in screen
    assert (workspace / "calc.py" / "mine.txt").exists()
    assert rows(_db(workspace), "SELECT status FROM rollbacks") == [{"status": "partial"}]


def test_slash_commands_work_on_the_live_session(workspace, openai_server):
    openai_server.script(_fix(), text_answer("fixed it"))
    with TerminalHarness(workspace, openai_server, approval="auto-edit") as term:
        term.type("/help\r")
        term.expect("/rollback N")
        term.type("/cost\r")
        term.expect("unknown command /cost — did you mean /status?")
        term.type("fix add\r")
        term.expect("fixed it")
        term.type("/diff\r")
        term.expect("+    return a + b")
        term.type("/checkpoints\r")
        term.expect("fix add")
        term.type("/log\r")
        term.expect("total: 2 attempts")
        term.type("/status\r")
        term.expect("auto-edit")
        term.type("/model other-model\r")
        term.expect("model is now other-model")
        term.type("/approval read-only\r")
        term.expect("approval mode is now read-only")
        term.type("/approval bogus\r")
        screen = term.expect("invalid approval mode 'bogus' — the modes: ask, auto-edit, full-auto, "
                             "read-only\n")
        assert screen.count("approval mode is now") == 1  # nothing changed
        openai_server.script(text_answer("The user asked to fix add() in calc.py; it now adds."))
        term.type("/compact\r")
        term.expect("compacted: messages")
        term.type("/undo\r")
        term.expect("rolled back to checkpoint 1")
        assert (workspace / "calc.py").read_text().endswith("a - b\n")
        term.type("/rollback --undo\r")
        term.expect("undid rollback 1")
        assert (workspace / "calc.py").read_text().endswith("a + b\n")
        term.type("/rollback 9\r")
        term.expect("/rollback:")
        term.type("/new\r")
        term.expect("new session: it starts with your next prompt")
        term.type("/exit\r")
        term.finish()
    assert len(openai_server.requests) == 3  # only /compact asked the model (for its summary)
    assert "compact the working memory" in openai_server.requests[2].body["messages"][0]["content"]
    databases = sorted(sessions_folder(workspace).glob("*.sqlite"))
    assert len(databases) == 1  # /new then /exit: the new session never got a prompt, so it has no file
    settings = json.loads(rows(databases[0], "SELECT settings FROM meta")[0]["settings"])
    assert settings["model"] == "other-model" and settings["approval"] == "read-only"
    assert f"agentcli resume {databases[0].stem}" in term.screen.split("new session: it starts")[1]
    assert "bye — no prompt was sent, so no session was made" in term.screen


def test_text_typed_during_a_turn_is_queued_in_the_session_and_taken_next(workspace, openai_server):
    openai_server.script(text_answer("first answer", delay=1.5), text_answer("second answer"))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("first\r")
        openai_server.wait_for_requests(1)
        term.keys("second, typed ahead\r")
        term.expect("queued for the next turn")
        db = _db(workspace)
        assert [r["text"] for r in rows(db, "SELECT text FROM prompts ORDER BY id")] == [
            "first", "second, typed ahead"]  # stored at once, before the turn ends
        term.expect("second answer")
        term.type("/exit\r")
        term.finish()
    assert [r["status"] for r in rows(db, "SELECT status FROM prompts ORDER BY id")] == ["done", "done"]
    last = openai_server.requests[1].body["messages"][-1]
    assert last == {"role": "user", "content": "second, typed ahead"}
    assert term.screen.count("second, typed ahead") == 2  # "queued", then where its turn starts


def test_ctrl_c_stops_the_turn_keeps_partial_output_and_returns_to_the_prompt(workspace, openai_server):
    hold = threading.Event()
    stalled = text_answer("Partial first paragraph.\n\nAnd then a second one that never ends",
                          chunk_size=8, hold=hold, hold_after=7)
    openai_server.script(stalled, text_answer("after"))
    with TerminalHarness(workspace, openai_server, prompt="talk") as term:
        assert stalled.held.wait(10)
        term.expect("Partial first paragraph.")  # the first turn (new PROMPT) behaves as any
        term.keys("\x03")
        term.expect("turn stopped")
        term.type("again\r")
        term.expect("after")
        term.type("\x03")
        term.expect("Ctrl-C again")
        term.keys("\x03")
        term.finish()
    hold.set()
    screen = term.screen
    assert "And then a sec" in screen and "(stopped" in screen
    db = _db(workspace)
    assert [r["status"] for r in rows(db, "SELECT status FROM prompts ORDER BY id")] == ["cancelled", "done"]
    assert "agentcli resume" in screen


def test_an_at_mention_sends_the_file_with_the_prompt(workspace, openai_server):
    openai_server.script(text_answer("it subtracts"))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("what does @calc.py do?\r")
        term.expect("it subtracts")
        term.type("/exit\r")
        term.finish()
    assert "attached calc.py (2 lines)" in term.screen
    sent = openai_server.requests[0].body["messages"][-1]["content"]
    assert sent.startswith("what does @calc.py do?") and "return a - b" in sent
    assert "return a - b" in rows(_db(workspace), "SELECT text FROM prompts")[0]["text"]
    history = workspace / ".agentcli" / "history"  # the workspace's input history, for every session
    assert "+what does @calc.py do?" in history.read_text()
    assert (workspace / ".agentcli" / ".gitignore").read_text() == "*\n"


def test_resume_shows_a_recap_before_the_prompt(workspace, openai_server):
    items = [{"title": "Fix add", "status": "done"}]
    openai_server.script(tool_answer(tool_call("update_plan", {"items": items})), _fix(),
                         text_answer("**Fixed** the sign."))
    with TerminalHarness(workspace, openai_server, approval="full-auto", prompt="fix add") as term:
        term.expect("Fixed the sign.")
        term.type("/exit\r")
        term.finish()
    sid = _db(workspace).stem
    with TerminalHarness(workspace, openai_server, resume=sid) as term:
        term.wait_idle()
        term.type("/exit\r")
        term.finish()
    screen = term.screen
    assert "fix add" in screen and "last prompt" in screen and "Fixed the sign." in screen
    assert "[x] Fix add" in screen and "files changed: calc.py" in screen
    assert "**" not in screen


def test_tool_lines_fit_80_columns_and_failures_are_red_never_green():
    import io

    from rich.console import Console

    from agentcli.cli.terminal.view import tool_line

    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system="standard")
    arguments = json.dumps({"command": "pytest -q " + "tests/test_something_long.py " * 10})
    failed = {"name": "run_shell", "status": "done", "exit_code": 2, "duration_ms": 12345, "output": ""}
    console.print(tool_line(failed, arguments, 80), no_wrap=True, overflow="ellipsis")
    plain = Console(file=io.StringIO(), width=80)
    plain.print(tool_line(failed, arguments, 80), no_wrap=True)
    line = plain.file.getvalue().rstrip("\n")
    assert len(line) <= 80 and line.endswith("exit 2 · 12.3s") and line.startswith("✗ run_shell $ pytest")
    assert "\x1b[31m" in out.getvalue() and "\x1b[32m" not in out.getvalue()  # red, no green


def test_list_and_log_cut_to_the_terminal_width_and_stay_whole_when_piped():
    from agentcli.cli.render.text import fit_width

    wide = "ID  TITLE\n1   " + "word " * 40
    assert all(len(line) <= 80 for line in fit_width(wide, 80).splitlines())
    assert fit_width(wide, 80).splitlines()[1].endswith("…")
    assert fit_width("short", 80) == "short"


def _last_user_text(body: dict) -> str:
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


@pytest.mark.parametrize("offset_ms", [-20, 0, 10, 30, 60])
def test_a_prompt_typed_as_a_turn_ends_is_run_never_left_in_the_line(workspace, openai_server, offset_ms):
    import time

    def answer(body: dict):
        text = _last_user_text(body)
        return text_answer(f"ok: {text}", delay=0.15 if text == "first" else 0.0)

    openai_server.answer_with(answer)
    with TerminalHarness(workspace, openai_server) as term:
        term.type("first\r")
        openai_server.wait_for_requests(1)
        time.sleep(0.15 + offset_ms / 1000)  # the answer lands about now: the turn is ending
        term.keys("second\r")
        term.expect("ok: second", timeout=10)  # queued for the next turn or taken at the prompt: it ran
        term.wait_idle()
    assert [_last_user_text(r.body) for r in openai_server.requests] == ["first", "second"]


@pytest.mark.parametrize("offset_ms", [-20, 0, 10, 40])
def test_ctrl_d_pressed_as_a_turn_ends_leaves(workspace, openai_server, offset_ms):
    import time

    openai_server.answer_with(lambda body: text_answer("done", delay=0.15))
    with TerminalHarness(workspace, openai_server) as term:
        term.type("first\r")
        openai_server.wait_for_requests(1)
        time.sleep(0.15 + offset_ms / 1000)
        term.keys("\x04")
        term.finish(timeout=5)
        assert term.result.status == "done" and "bye" in term.screen


def _closing_key(before_closing) -> object:
    """Ctrl-T closes the type-ahead line as the REPL does when a turn ends or a question
    comes (after ``before_closing()``): the keys sent after it in the same write reach a
    line that is closing — the instant the race is about."""
    from prompt_toolkit.key_binding import KeyBindings

    from agentcli.cli.repl import WOKEN

    keys = KeyBindings()

    @keys.add("c-t")
    def _close(event) -> None:  # noqa: ANN001
        before_closing()
        event.app.exit(result=WOKEN)

    return keys


def _held_first(hold: threading.Event):
    """Answer ``ok: TEXT``; the answer to ``first`` waits for ``hold``."""
    def answer(body: dict):
        text = _last_user_text(body)
        return text_answer(f"ok: {text}", hold=hold if text == "first" else None)
    return answer


def _wait_for(condition, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _turn_over(term_box: list, hold: threading.Event):
    def over() -> None:  # let the answer through, and wait until the turn has ended
        import time

        hold.set()
        term = term_box[0]
        _wait_for(lambda: term.session.prompts.get(1).status == "done")
        time.sleep(0.3)  # the worker has returned by now
    return over


def test_enter_reaching_the_line_as_it_closes_at_the_turns_end_sends_the_line(workspace, openai_server):
    hold, box = threading.Event(), []
    openai_server.answer_with(_held_first(hold))
    with TerminalHarness(workspace, openai_server, extra_keys=_closing_key(_turn_over(box, hold))) as term:
        box.append(term)
        term.type("first\r")
        openai_server.wait_for_requests(1)
        term.keys("second\x14\r")  # the Enter is typeahead: the idle prompt reads it, with the text
        term.expect("ok: second")
        term.wait_idle()
    assert [_last_user_text(r.body) for r in openai_server.requests] == ["first", "second"]


def test_enter_reaching_the_line_as_it_closes_for_a_question_queues_the_line(workspace, openai_server):
    hold = threading.Event()
    openai_server.answer_with(_held_first(hold))
    with TerminalHarness(workspace, openai_server, extra_keys=_closing_key(lambda: None)) as term:
        term.type("first\r")
        openai_server.wait_for_requests(1)
        term.keys("second\x14\r")  # the turn goes on: the line opens again and queues it
        term.expect("queued for the next turn: second")
        hold.set()
        term.expect("ok: second")
        term.wait_idle()
    assert [_last_user_text(r.body) for r in openai_server.requests] == ["first", "second"]


def test_ctrl_d_reaching_the_line_as_it_closes_at_the_turns_end_leaves(workspace, openai_server):
    hold, box = threading.Event(), []
    openai_server.answer_with(lambda body: text_answer("done", hold=hold))
    with TerminalHarness(workspace, openai_server, extra_keys=_closing_key(_turn_over(box, hold))) as term:
        box.append(term)
        term.type("first\r")
        openai_server.wait_for_requests(1)
        term.keys("\x14\x04")
        term.finish(timeout=10)
        assert term.result.status == "done" and "bye" in term.screen


def test_the_spinner_line_fits_the_screen_with_wide_characters() -> None:
    import io
    import json as jsonlib

    from rich.cells import cell_len
    from rich.console import Console

    from agentcli.agent.events import Event
    from agentcli.cli.terminal.view import TerminalView

    view = TerminalView(Console(file=io.StringIO(), width=80))
    command = "grep -rn '数据库连接失败时重试' src/ && echo 完成了所有的检查工作，没有发现任何问题"
    view(Event("tool.started", {"agent": "orchestrator", "id": "c1", "name": "run_shell",
                                "arguments": jsonlib.dumps({"command": command})}))
    view(Event("tool.output", {"agent": "orchestrator", "id": "c1", "text": "日本語の出力行" * 12 + "\n"}))
    lines = view.activity_lines()
    assert len(lines) == 2 and "grep" in lines[0] and lines[1].startswith("  │ 日本語")
    assert all(cell_len(line) <= 79 for line in lines), [cell_len(line) for line in lines]


@pytest.mark.parametrize(("keys", "chosen"), [("\r", 0), ("\x1b[B\r", 1), ("\x1b[B\x1b[B\x1b[B\r", 2),
                                              ("\x1b[B\x1b[A\r", 0), ("3\r", 2)])
def test_the_session_picker_takes_arrow_keys_or_a_number(tmp_path, keys, chosen) -> None:
    import io
    import time

    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput
    from rich.console import Console

    from agentcli.cli.repl import TerminalIO
    from agentcli.cli.terminal.picker import choice_reader, newest_first, pick_session
    from agentcli.session.directory import SessionDirectory

    folder = SessionDirectory(tmp_path / "sessions")
    for title in ("oldest", "middle", "newest"):
        folder.create(workspace_root=tmp_path, title=title).close()
        time.sleep(0.01)  # distinct updated_at
    entries = folder.entries(tmp_path)
    with create_pipe_input() as pipe:
        console = Console(file=io.StringIO(), width=80)
        pipe.send_text(keys)
        picked = pick_session(console, entries, choice_reader(TerminalIO(console, pipe, DummyOutput())))
    assert picked.meta.title == ["newest", "middle", "oldest"][chosen]
    assert [e.meta.title for e in newest_first(entries)] == ["newest", "middle", "oldest"]
