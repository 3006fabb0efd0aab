"""Bad tool calls and hostile workspaces: each is an error result, the run goes on, and the
session resumes to completion (robustness issue 10)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from agent_harness import Run, agentcli, agentcli_process, rows, session_file, start
from openai_answers import text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer

from agentcli.agent.errors import ToolError
from agentcli.agent.runner import TOOL_INTERRUPTED
from agentcli.agent.tools.arguments import function_schema
from agentcli.agent.tools.registry import Tool, ToolContext, ToolLimits, ToolRegistry, default_registry
from agentcli.agent.workspace.jail import Workspace
from agentcli.agent.workspace.walk import compile_glob

BAD_NAME = b"bad\xff.txt"  # not UTF-8: Python sees it as "bad\udcff.txt"


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("hello\n")
    return root.resolve()


def new(server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]) -> Run:
    return agentcli(["new", "go", "-p", "--base-url", server.base_url, "--approval", "full-auto"],
                    env=env, cwd=workspace, timeout=30)


def resume(server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str], session: str) -> Run:
    return agentcli(["resume", session, "and now?", "-p", "--base-url", server.base_url,
                     "--approval", "full-auto"], env=env, cwd=workspace, timeout=30)


def last_tool_result(server: ScriptedOpenAIServer) -> str:
    return [m["content"] for m in server.requests[-1].body["messages"] if m["role"] == "tool"][-1]


BAD_CALLS = {
    "name of 300 characters": (tool_call("read_file", {"path": "a" * 300}), "too long"),
    "path over 4096 bytes": (tool_call("write_file", {"path": "/".join(["abcdefgh"] * 600),
                                                      "content": "x"}), "too long"),
    "glob [z-a] in list_files": (tool_call("list_files", {"pattern": "[z-a]"}), "invalid glob"),
    "glob [z-a] in search": (tool_call("search", {"pattern": "x", "glob": "src/[z-a]"}), "invalid glob"),
    "pattern [z-a] in search": (tool_call("search", {"pattern": "[z-a]"}), "invalid regular expression"),
    "escaped lone surrogate in a path": (tool_call("write_file", {"path": "\ud800", "content": "x"}),
                                         "surrogate"),
    # The JSON of the answer itself carries "\ud800": the SDK decodes it to a lone surrogate.
    "lone surrogate in content": (tool_call("write_file", '{"path": "a.txt", "content": "x\ud800"}'),
                                  "surrogate"),
    "lone surrogate in a path": (tool_call("read_file", '{"path": "\ud800"}'), "surrogate"),
    "lone surrogate in a pattern": (tool_call("search", '{"pattern": "\udcff"}'), "surrogate"),
    "lone surrogate in a plan": (tool_call("update_plan", '{"items": [{"title": "\ud800", '
                                                          '"status": "pending"}]}'), "surrogate"),
    "timeout NaN": (tool_call("run_shell", '{"command": "echo hi", "timeout": NaN}'), "finite"),
    "timeout Infinity": (tool_call("run_shell", '{"command": "echo hi", "timeout": Infinity}'), "finite"),
}


@pytest.mark.parametrize("case", list(BAD_CALLS))
def test_a_bad_call_is_an_error_result_and_the_session_resumes(openai_server, workspace, env, case):
    call, expected = BAD_CALLS[case]
    openai_server.script(tool_answer(call), text_answer("recovered"), text_answer("resumed fine"))
    run = new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "recovered"
    result = last_tool_result(openai_server)
    assert result.startswith("error") and expected in result.lower(), result
    db = session_file(workspace, run.session_id)
    assert [r["status"] for r in rows(db, "SELECT status FROM tool_calls")] == ["failed"]
    assert not (workspace / "a.txt").exists()

    again = resume(openai_server, workspace, env, run.session_id)
    assert again.code == 0, again.stderr
    assert again.stdout.strip() == "resumed fine"
    assert last_tool_result(openai_server) == result  # the transcript sent again, unchanged


def test_file_names_that_are_not_utf8_are_listed_escaped_and_skipped_by_search(openai_server,
                                                                               workspace, env):
    with open(os.fsencode(workspace) + b"/" + BAD_NAME, "wb") as handle:
        handle.write(b"hello\n")
    openai_server.script(tool_answer(tool_call("list_files", {})),
                         tool_answer(tool_call("search", {"pattern": "hel+o"})),
                         tool_answer(tool_call("read_file", '{"path": "bad\udcff.txt"}')),
                         text_answer("seen"), text_answer("resumed fine"))
    run = new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    results = [m["content"] for m in openai_server.requests[-1].body["messages"] if m["role"] == "tool"]
    listing, found, read = results
    assert listing.splitlines() == ["bad\\xff.txt  [name not UTF-8: only run_shell can open it]",
                                    "notes.txt"]
    assert found.splitlines() == ["notes.txt:1: hello",
                                  "[1 files whose names are not UTF-8 were not searched; "
                                  "use run_shell with grep for them]"]
    assert read.startswith("error") and "surrogate" in read
    again = resume(openai_server, workspace, env, run.session_id)
    assert again.code == 0, again.stderr


def test_a_call_killed_mid_way_over_a_name_not_utf8_resumes(openai_server, workspace, env):
    with open(os.fsencode(workspace) + b"/" + BAD_NAME, "wb") as handle:
        handle.write(b"hello\n")
    openai_server.script(tool_answer(tool_call("list_files", {})), text_answer("listed"))
    killed = agentcli_process(["new", "go", "-p", "--base-url", openai_server.base_url,
                               "--approval", "full-auto"],
                              env={**env, "AGENTCLI_FAILPOINTS": "tool.journaled"}, cwd=workspace)
    assert killed.code == -9, killed.stderr
    db = session_file(workspace, killed.session_id)
    assert [r["status"] for r in rows(db, "SELECT status FROM tool_calls")] == ["running"]
    again = agentcli(["resume", killed.session_id, "-p", "--base-url", openai_server.base_url],
                     env=env, cwd=workspace, timeout=30)
    assert again.code == 0, again.stderr
    assert again.stdout.strip() == "listed"
    assert "bad\\xff.txt" in last_tool_result(openai_server)


class _Broken(Tool):
    name, kind = "broken", "read"

    def schema(self) -> dict:
        return function_schema(self.name, "Always fails.", {}, [])

    def prepare(self, args, ctx):
        raise RuntimeError("a bug in prepare")


def test_an_exception_in_a_tools_checks_is_a_tool_error(tmp_path):
    tools = ToolRegistry([_Broken()], ToolContext(Workspace(tmp_path)))
    with pytest.raises(ToolError, match="broken failed unexpectedly: RuntimeError: a bug in prepare"):
        tools.prepare("broken", "{}")


def test_special_and_huge_files_are_refused_without_blocking_or_reading(openai_server, workspace, env):
    os.mkfifo(workspace / "pipe")
    (workspace / "sub").mkdir()
    os.mkfifo(workspace / "sub" / ".gitignore")  # opening it for reading would wait for a writer
    (workspace / "sub" / "kept.txt").write_text("kept\n")
    (workspace / "zero").mkdir()
    (workspace / "zero" / ".gitignore").symlink_to("/dev/zero")  # reads without end
    for name, size in (("huge.bin", 3 << 30), ("big.txt", 1 << 30)):  # sparse: no real gigabytes
        with open(workspace / name, "wb") as handle:
            handle.truncate(size)
    openai_server.script(
        tool_answer(tool_call("read_file", {"path": "pipe"})),
        tool_answer(tool_call("write_file", {"path": "huge.bin", "content": "small now"})),
        tool_answer(tool_call("edit_file", {"path": "huge.bin", "old_string": "a", "new_string": "b"})),
        tool_answer(tool_call("write_file", {"path": "big.txt", "content": "small now"})),
        tool_answer(tool_call("edit_file", {"path": "pipe", "old_string": "a", "new_string": "b"})),
        tool_answer(tool_call("search", {"pattern": "kept"})),
        tool_answer(tool_call("list_files", {})),
        text_answer("done"), text_answer("resumed fine"))
    run = new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    results = [m["content"] for m in openai_server.requests[-1].body["messages"] if m["role"] == "tool"]
    read_pipe, write_huge, edit_huge, write_big, edit_pipe, found, listing = results
    assert read_pipe.startswith("error") and "not a regular file" in read_pipe
    assert write_huge.startswith("error") and "too large to write_file (3221225472 bytes" in write_huge
    assert edit_huge.startswith("error") and "too large to edit_file" in edit_huge
    assert write_big.startswith("error") and "too large to write_file (1073741824 bytes" in write_big
    assert edit_pipe.startswith("error") and "not a regular file" in edit_pipe
    assert found == "sub/kept.txt:1: kept"
    assert listing.splitlines() == ["big.txt", "huge.bin", "notes.txt", "sub/kept.txt"]
    assert os.path.getsize(workspace / "huge.bin") == 3 << 30
    db = session_file(workspace, run.session_id)
    assert os.path.getsize(db) < 2 << 20  # no gigabyte before-image
    again = resume(openai_server, workspace, env, run.session_id)
    assert again.code == 0, again.stderr
    assert again.stdout.strip() == "resumed fine"


def test_a_catastrophic_pattern_is_fast_or_too_slow_never_stuck(openai_server, workspace, env, tmp_path):
    (workspace / "aaa.txt").write_text("a" * 27 + "!\n")  # re: ~20 s, doubling per "a"
    openai_server.script(tool_answer(tool_call("search", {"pattern": "^(a+)+$"})),
                         tool_answer(tool_call("list_files", {"pattern": "*a" * 8 + "*b"})),
                         text_answer("done"), text_answer("resumed fine"))
    started = time.monotonic()
    run = new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert time.monotonic() - started < 10
    results = [m["content"] for m in openai_server.requests[-1].body["messages"] if m["role"] == "tool"]
    assert results == ["No matches found.", "No files found matching '" + "*a" * 8 + "*b'."]
    assert resume(openai_server, workspace, env, run.session_id).code == 0

    # What even regex cannot settle in time is stopped at the call's budget and said so.
    (tmp_path / "slow").mkdir()
    (tmp_path / "slow" / "x.txt").write_text(("a" * 40 + "!\n") * 3)
    tools = default_registry(Workspace(tmp_path / "slow"), ToolLimits(search_seconds=0.5))
    started = time.monotonic()
    output = tools.prepare("search", {"pattern": "(a|aa)+$"}).execute()
    assert time.monotonic() - started < 3
    assert output.is_error and output.text.startswith("pattern too slow: /(a|aa)+$/"), output.text
    # A glob's matching is linear: eight stars over a 3,000-character name take no time.
    started = time.monotonic()
    assert not compile_glob("*a" * 8 + "*b")("a" * 3000)
    assert compile_glob("*a" * 8 + "*b")("a" * 3000 + "b")
    assert time.monotonic() - started < 1


def test_progress_lines_show_no_terminal_escapes(openai_server, workspace, env):
    (workspace / "evil.txt").write_text("\x1b]0;pwned\x07\x1b[31mred\x9b2J\x1b[0m\n")
    openai_server.script(tool_answer(tool_call("read_file", {"path": "evil.txt"})),
                         tool_answer(tool_call("write_file", {"path": "b.txt", "content": "\x1b[2J"})),
                         text_answer("done"))
    run = new(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert "red" in run.stderr and "b.txt" in run.stderr
    assert not any(char in run.stderr for char in "\x1b\x07\x9b"), repr(run.stderr)
    assert "\u241b]0;pwned?\u241b[31mred?2J" in run.stderr


def test_an_interrupted_search_is_told_it_was_interrupted(openai_server, workspace, env):
    (workspace / "slow.txt").write_text(("a" * 30 + "!\n") * 50)  # (a|aa)+$: a long while a line
    openai_server.script(tool_answer(tool_call("search", {"pattern": "(a|aa)+$"})),
                         text_answer("turn finished"), text_answer("resumed fine"))
    proc = start(["new", "go", "-p", "--base-url", openai_server.base_url, "--approval", "full-auto"],
                 env=env, cwd=workspace)
    try:
        openai_server.wait_for_requests(1)
        time.sleep(1)  # the search is under way
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    session = err.splitlines()[0].split()[-1]
    calls = rows(session_file(workspace, session), "SELECT status, result FROM tool_calls")
    assert calls == [{"status": "interrupted", "result": TOOL_INTERRUPTED}]
    again = agentcli(["resume", session, "go on", "-p", "--base-url", openai_server.base_url],
                     env=env, cwd=workspace, timeout=30)
    assert again.code == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1] == "resumed fine"
    assert TOOL_INTERRUPTED in [m["content"] for m in openai_server.requests[-1].body["messages"]]


def test_a_prompt_on_stdin_that_is_not_utf8_is_a_usage_error_without_a_session(openai_server,
                                                                               workspace, env):
    proc = subprocess.run([sys.executable, "-m", "agentcli", "new", "-p", "--base-url",
                           openai_server.base_url], input=b"fix \xff\xfe it\n", capture_output=True,
                          cwd=workspace, env=env, timeout=30)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert err.splitlines() == ["agentcli: the prompt on stdin is not UTF-8 text (byte 0xff at offset 4); "
                                "convert it first, e.g. with iconv -t UTF-8"]
    assert not list(workspace.rglob("*.sqlite"))
    assert openai_server.requests == []


@pytest.mark.parametrize("argv", [
    [b"new", b"fix caf\xe9 now", b"-p"],
    [b"new", b"hi", b"-p", b"--model", b"m\xe9"],
    [b"new", b"hi", b"-p", b"--scout-model", b"s\xff"],
], ids=["prompt", "model", "scout-model"])
def test_an_argument_that_is_not_utf8_is_one_line_exit_2_without_a_session(openai_server, workspace, env,
                                                                          argv):
    """Issue 20, minor: a non-UTF-8 prompt argument (or option) was an internal error."""
    proc = subprocess.run([sys.executable.encode(), b"-m", b"agentcli", *argv, b"--base-url",
                           openai_server.base_url.encode()], capture_output=True, cwd=workspace, env=env,
                          timeout=30)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, err
    assert len(err.splitlines()) == 1 and "is not UTF-8 text (byte 0x" in err and "internal error" not in err
    assert not list(workspace.rglob("*.sqlite")) and openai_server.requests == []


def test_a_workspace_path_that_is_not_utf8_is_one_line_exit_2(openai_server, tmp_path, env):
    folder = os.fsdecode(bytes(tmp_path) + b"/caf\xe9")
    os.mkdir(folder)
    proc = subprocess.run([sys.executable, "-m", "agentcli", "new", "hi", "-p", "--base-url",
                           openai_server.base_url], capture_output=True, cwd=folder, env=env, timeout=30)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 2, err
    assert "the workspace path" in err and "rename the folder, or pass -C" in err
