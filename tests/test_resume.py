"""Crash tests: SIGKILL agentcli at every kind of point, resume, compare with a clean run.

Each scenario runs the same scripted five-step session. The shell commands append to
``log.txt``, so a side effect done twice shows as a doubled line. The run that is killed,
signalled or holds the lock is a real process (``agentcli_process``, ``start``); the runs
that follow it go in-process (``agentcli``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from agent_harness import agentcli, agentcli_process, rows, session_file, start
from openai_answers import Answer, error_answer, text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer
from processes import alive

pytestmark = pytest.mark.slow

NOTES_V1 = "first draft\n"
NOTES_V2 = "final draft\n"


def script() -> list[Answer]:
    """The five answers of the reference session."""
    return [
        tool_answer(tool_call("write_file", {"path": "notes.txt", "content": NOTES_V1})),
        tool_answer(tool_call("run_shell", {"command": "echo step >> log.txt"})),
        tool_answer(tool_call("edit_file", {"path": "notes.txt", "old_string": "first",
                                            "new_string": "final"})),
        tool_answer(tool_call("run_shell", {"command": "echo again >> log.txt"})),
        text_answer("all done"),
    ]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "README").write_text("a project\n")
    return root


def args(server: ScriptedOpenAIServer, *extra: str) -> list[str]:
    return ["-p", "--base-url", server.base_url, "--approval", "full-auto", *extra]


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and ".agentcli" not in p.parts}


def transcript_lengths(server: ScriptedOpenAIServer) -> list[int]:
    return [len(r.body["messages"]) for r in server.requests]


def resume(server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]):
    return agentcli(["resume", "last", *args(server)], env=env, cwd=workspace)


def test_uninterrupted_reference(openai_server, workspace, env):
    openai_server.script(*script())
    run = agentcli(["new", "do it", *args(openai_server)], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert tree(workspace) == {"README": "a project\n", "notes.txt": NOTES_V2, "log.txt": "step\nagain\n"}
    assert transcript_lengths(openai_server) == [2, 4, 6, 8, 10]


@pytest.mark.parametrize(
    ("failpoint", "served_before_kill"),
    [
        ("model.answered:1", 1),  # answer recorded, its tool not yet journaled
        ("tool.journaled:1", 1),  # write_file journaled, file not yet written
        ("tool.acted:1", 1),  # file written, result not yet recorded
        ("tool.acted:2", 2),  # shell command ran, result not yet recorded
        ("tool.finished:2", 2),  # shell result recorded
        ("model.answered:3", 3),
        ("tool.journaled:3", 3),  # edit journaled, not applied
    ],
)
def test_sigkill_then_resume_matches_the_clean_run(openai_server, workspace, env, failpoint,
                                                  served_before_kill):
    openai_server.script(*script())
    killed = agentcli_process(["new", "do it", *args(openai_server)], cwd=workspace,
                              env={**env, "AGENTCLI_FAILPOINTS": failpoint})
    assert killed.code == -signal.SIGKILL, killed.stderr
    assert len(openai_server.requests) == served_before_kill

    run = resume(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "all done"
    final = tree(workspace)
    assert final["notes.txt"] == NOTES_V2
    assert final["log.txt"] == "step\nagain\n"  # each shell side effect exactly once
    # No model call was sent twice: every request carries a longer transcript than the last.
    assert transcript_lengths(openai_server) == [2, 4, 6, 8, 10]
    db = session_file(workspace, run.session_id)
    statuses = [r["status"] for r in rows(db, "SELECT status FROM tool_calls ORDER BY id")]
    if failpoint == "tool.acted:2":
        assert statuses == ["done", "interrupted", "done", "done"]
        shell_result = openai_server.requests[2].body["messages"][-1]["content"]
        assert "interrupted" in shell_result
    else:
        assert statuses == ["done"] * 4


def test_kill_while_streaming_resends_only_the_call_in_flight(openai_server, workspace, env):
    hold = threading.Event()
    answers = script()
    answers[2] = tool_answer(tool_call("edit_file", {"path": "notes.txt", "old_string": "first",
                                                     "new_string": "final"}), hold=hold)
    openai_server.script(*answers[:3])
    proc = start(["new", "do it", *args(openai_server)], env=env, cwd=workspace)
    try:
        assert answers[2].held.wait(20), "the stream never stalled"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        hold.set()
    openai_server.script(*script()[2:])
    run = resume(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert tree(workspace)["notes.txt"] == NOTES_V2
    assert tree(workspace)["log.txt"] == "step\nagain\n"
    assert transcript_lengths(openai_server) == [2, 4, 6, 6, 8, 10]  # only the in-flight one again
    db = session_file(workspace, run.session_id)
    audit = [r["status"] for r in rows(db, "SELECT status FROM model_calls ORDER BY id")]
    assert audit == ["ok", "ok", "interrupted", "ok", "ok", "ok"]


def test_kill_during_a_shell_command_never_reruns_it_nor_leaves_it_running(openai_server, workspace, env):
    # in the sandbox, $! is a pid of its pid namespace: the sleeper is found by its own words
    sleeper = f"sleep 60.{os.getpid()}{time.monotonic_ns() % 10_000}"
    command = f"echo step >> log.txt; {sleeper} & echo $! > sleeper.pid; wait"
    openai_server.script(tool_answer(tool_call("run_shell", {"command": command})))
    proc = start(["new", "do it", *args(openai_server)], env=env, cwd=workspace)
    pid_file = workspace / "sleeper.pid"
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text().strip()):
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert _none_running(sleeper), "the shell command outlived agentcli"

    openai_server.script(text_answer("noted"))
    run = resume(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert (workspace / "log.txt").read_text() == "step\n"
    told = openai_server.requests[-1].body["messages"][-1]
    assert told["role"] == "tool" and "interrupted" in told["content"]
    db = session_file(workspace, run.session_id)
    assert rows(db, "SELECT status FROM tool_calls")[0]["status"] == "interrupted"
    changes = rows(db, "SELECT path, source FROM file_changes WHERE path = 'log.txt'")
    assert changes and changes[0]["source"] == "run_shell"


def _none_running(command_line: str, wait: float = 5.0) -> bool:
    """Whether, within ``wait`` seconds, no process of ours runs ``command_line``."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if not any(alive(int(entry.name)) and command_line.encode() in _cmdline(entry)
                   for entry in Path("/proc").iterdir() if entry.name.isdigit()):
            return True
        time.sleep(0.05)
    return False


def _cmdline(entry: Path) -> bytes:
    try:
        return (entry / "cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return b""


def test_busy_session_is_refused_at_once_with_exit_4(openai_server, workspace, env):
    hold = threading.Event()
    openai_server.script(text_answer("slow", hold=hold))
    proc = start(["new", "do it", *args(openai_server)], env=env, cwd=workspace)
    try:
        openai_server.wait_for_requests(1, timeout=20)
        began = time.monotonic()
        busy = resume(openai_server, workspace, env)
        assert busy.code == 4, busy.stderr
        assert time.monotonic() - began < 5
        assert f"pid {proc.pid}" in busy.stderr
        shown = agentcli(["show", "last"], env=env, cwd=workspace)
        assert shown.code == 0, shown.stderr
    finally:
        hold.set()
        proc.wait(20)
    assert proc.returncode == 0


def test_a_killed_holder_releases_the_lock(openai_server, workspace, env):
    hold = threading.Event()
    openai_server.script(text_answer("never", hold=hold))
    proc = start(["new", "do it", *args(openai_server)], env=env, cwd=workspace)
    openai_server.wait_for_requests(1, timeout=20)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    hold.set()
    openai_server.script(text_answer("back"))
    run = resume(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "back"


def test_sigterm_exits_130_and_the_session_resumes(openai_server, workspace, env):
    hold = threading.Event()
    answer = text_answer("cut short", hold=hold)
    openai_server.script(answer)
    proc = start(["new", "do it", *args(openai_server)], env=env, cwd=workspace)
    try:
        openai_server.wait_for_requests(1, timeout=20)
        assert answer.held.wait(20), "the stream never stalled"  # the call is under way
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    finally:
        hold.set()
    assert proc.returncode == 130, proc.stderr.read() if proc.stderr else ""
    assert "resume" in (proc.stderr.read() if proc.stderr else "")
    openai_server.script(text_answer("resumed fine"))
    run = resume(openai_server, workspace, env)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "resumed fine"
    db = session_file(workspace, run.session_id)
    assert [r["status"] for r in rows(db, "SELECT status FROM prompts")] == ["done"]
    # The call SIGTERM cut short is logged as interrupted, not as an endpoint error.
    assert [r["status"] for r in rows(db, "SELECT status FROM model_calls ORDER BY id")] == [
        "interrupted", "ok"]


def test_resume_with_a_new_prompt_after_finishing(openai_server, workspace, env):
    openai_server.script(text_answer("one"), text_answer("two"))
    first = agentcli(["new", "first", *args(openai_server)], env=env, cwd=workspace)
    assert first.code == 0
    second = agentcli(["resume", first.session_id[:6], "second", *args(openai_server)], env=env,
                      cwd=workspace)
    assert second.code == 0, second.stderr
    assert second.stdout.strip() == "two"
    last = openai_server.requests[-1].body["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "user"]
    assert last[-1]["content"] == "second"


def test_a_crashed_session_lists_as_interrupted(openai_server, workspace, env):
    openai_server.script(*script())
    killed = agentcli_process(["new", "do it", *args(openai_server)], cwd=workspace,
                              env={**env, "AGENTCLI_FAILPOINTS": "tool.acted:1"})
    assert killed.code == -signal.SIGKILL
    listed = agentcli(["list", "--json"], env=env, cwd=workspace)
    assert [s["status"] for s in json.loads(listed.stdout)] == ["interrupted"]
    shown = agentcli(["show", "last"], env=env, cwd=workspace)
    assert "interrupted" in shown.stdout


def test_a_turn_cut_by_the_turn_limit_or_the_endpoint_is_taken_up_by_resume(openai_server, workspace,
                                                                            env):
    openai_server.script(tool_answer(tool_call("list_files", {})), tool_answer(tool_call("list_files", {})))
    limited = agentcli(["new", "look around", *args(openai_server, "--max-turns", "2")], env=env,
                       cwd=workspace)
    assert limited.code == 1 and "resume" in limited.stderr
    listed = agentcli(["list", "--json"], env=env, cwd=workspace)
    assert [s["status"] for s in json.loads(listed.stdout)] == ["interrupted"]
    openai_server.script(error_answer(401, "key revoked"))
    refused = resume(openai_server, workspace, env)
    assert refused.code == 3 and "resume" in refused.stderr
    openai_server.script(text_answer("finished looking"))
    done = resume(openai_server, workspace, env)
    assert done.code == 0, done.stderr
    assert done.stdout.strip() == "finished looking"
    lengths = transcript_lengths(openai_server)
    assert lengths == [2, 4, 6, 6]  # the refused request is the only one sent twice
    db = session_file(workspace, done.session_id)
    assert [r["status"] for r in rows(db, "SELECT status FROM prompts")] == ["done"]


def test_a_copied_session_file_resumes_against_a_copied_tree(openai_server, workspace, env, tmp_path):
    openai_server.script(tool_answer(tool_call("write_file", {"path": "a.txt", "content": "1\n"})),
                         text_answer("first"))
    first = agentcli(["new", "write a", *args(openai_server)], env=env, cwd=workspace)
    assert first.code == 0, first.stderr
    artifact = tmp_path / "artifact" / f"{first.session_id}.sqlite"
    artifact.parent.mkdir()
    shutil.copy(session_file(workspace, first.session_id), artifact)
    checkout = tmp_path / "checkout"
    shutil.copytree(workspace, checkout, ignore=shutil.ignore_patterns(".agentcli"))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shown = agentcli(["show", str(artifact)], env=env, cwd=elsewhere)
    assert shown.code == 0 and "first" in shown.stdout
    openai_server.script(tool_answer(tool_call("edit_file", {"path": "a.txt", "old_string": "1",
                                                             "new_string": "2"})), text_answer("second"))
    run = agentcli(["resume", str(artifact), "edit a", *args(openai_server), "-C", str(checkout)],
                   env=env, cwd=elsewhere)
    assert run.code == 0, run.stderr
    assert (checkout / "a.txt").read_text() == "2\n"
    assert (workspace / "a.txt").read_text() == "1\n"  # the original tree is untouched


def test_resume_with_nothing_to_do_says_so(openai_server, workspace, env):
    openai_server.script(text_answer("one"))
    assert agentcli(["new", "first", *args(openai_server)], env=env, cwd=workspace).code == 0
    idle = resume(openai_server, workspace, env)
    assert idle.code == 0 and "nothing to do" in idle.stderr
    assert len(openai_server.requests) == 1
