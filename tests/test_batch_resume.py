"""A batch driver killed with ``kill -9`` midway, then ``batch resume``: nothing finished runs
again, the interrupted tasks resume from their sessions, no answered request is re-sent."""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path

import pytest
from agent_harness import agentcli, rows, start
from batch_helpers import TaskModel, batch_files, make_repo, task_rows, user_prompt, wait_for, write_tasks

from agentcli.store.durable import lock_path
from agentcli.store.lock import is_locked

FINAL = ("done", "failed", "denied")


@pytest.mark.slow
def test_kill_9_of_the_driver_then_resume(openai_server, tmp_path, env):
    model = TaskModel()
    model.hold("task 7:", 1)  # after its write_file is done: the second request is in flight
    model.hold("task 8:", 0)
    model.hold("task 9:", 0)
    openai_server.answer_with(model)
    make_repo(tmp_path / "repo")
    edit = {"approval": "auto-edit"}
    tasks = write_tasks(tmp_path / "tasks.jsonl", [
        {"prompt": f"task {n}: write f{n}.txt", "repo": "repo", **({} if n == 4 else edit)}
        if n != 2 else {"prompt": "task 2: fail", "repo": "repo"} for n in range(1, 13)
    ])
    driver = start(["batch", str(tasks), "--workers", "3", "--base-url", openai_server.base_url, "-p"],
                   env=env, cwd=tmp_path)
    try:
        wait_for(lambda: len(batch_files(tmp_path)) == 1, what="the batch file")
        [batch] = batch_files(tmp_path)
        wait_for(lambda: len(model.held) == 3, timeout=60, what="tasks 7, 8 and 9 to be in flight")
        wait_for(lambda: sum(t["status"] in FINAL for t in task_rows(batch).values()) == 6,
                 what="tasks 1-6 recorded")
        wait_for(lambda: all(task_rows(batch)[t]["session_path"] for t in ("t7", "t8", "t9")),
                 what="the sessions of tasks 7-9 recorded")
        busy = agentcli(["batch", "resume", batch.stem, "-p"], env=env, cwd=tmp_path)
        assert busy.code == 4 and f"batch {batch.stem} is busy: pid {driver.pid}" in busy.stderr
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(10)
    finally:
        if driver.poll() is None:
            driver.kill()
    before = task_rows(batch)
    assert {tid: t["status"] for tid, t in before.items() if t["status"] != "queued"} == {
        "t1": "done", "t2": "failed", "t3": "done", "t4": "denied", "t5": "done", "t6": "done",
        "t7": "running", "t8": "running", "t9": "running"}
    sessions = {tid: Path(before[tid]["session_path"]) for tid in ("t7", "t8", "t9")}
    # the tasks' processes die with their driver (each saves its session)
    wait_for(lambda: not any(is_locked(lock_path(p)) for p in sessions.values()), timeout=30,
             what="the task processes to stop")
    sent_before = len(openai_server.requests)
    model.holds.clear()  # the requests still stalled stay unanswered

    run = agentcli(["batch", "resume", batch.stem, "-p"], env=env, cwd=tmp_path, timeout=120)
    assert run.code == 1, run.stderr  # task 2 failed (and stays failed: it is not run again)
    assert "resuming 3 interrupted" in run.stderr
    after = task_rows(batch)
    assert {t["status"] for tid, t in after.items() if tid != "t2" and tid != "t4"} == {"done"}
    for tid in ("t1", "t2", "t3", "t4", "t5", "t6"):
        assert after[tid]["attempts"] == 1 and after[tid]["status"] == before[tid]["status"]
    later = [user_prompt(r.body) for r in openai_server.requests[sent_before:]]
    assert not [p for p in later if p.split(":")[0] in {f"task {n}" for n in range(1, 7)}]
    # the interrupted tasks went on in their own sessions
    for tid in ("t7", "t8", "t9"):
        assert after[tid]["session_path"] == str(sessions[tid]) and after[tid]["attempts"] == 2
        kinds = [(a["kind"], a["status"]) for a in rows(batch, "SELECT * FROM attempts WHERE task_id = ? "
                                                              "ORDER BY id", (tid,))]
        assert kinds == [("new", "interrupted"), ("resume", "done")]
    seven = after["t7"]
    writes = rows(sessions["t7"], "SELECT status FROM tool_calls WHERE name = 'write_file'")
    assert writes == [{"status": "done"}]  # done before the kill: never executed again
    assert (Path(seven["workspace"]) / "f7.txt").read_text() == "task 7: write f7.txt\n"
    assert seven["answer"] == "finished: task 7: write f7.txt" and seven["files_changed"] == 1
    assert [t["attempts"] for t in (after["t10"], after["t11"], after["t12"])] == [1, 1, 1]
    # the request log: no request that was answered was ever sent again
    # (the requests in flight at the kill, never answered, were sent again: that is allowed)
    answered: set[str] = set()
    again = []
    for request in openai_server.requests:
        sent = json.dumps(request.body["messages"])
        if sent in answered:
            again.append(user_prompt(request.body))
        if request.answered_at is not None:
            answered.add(sent)
    assert len(answered) > 12 and again == []
    resent = Counter(json.dumps(r.body["messages"]) for r in openai_server.requests)
    assert sorted(n for n in resent.values() if n > 1) == [2, 2, 2]  # the three in flight, once each
    shown = agentcli(["show", str(sessions["t7"])], env=env, cwd=tmp_path)
    assert shown.code == 0 and "finished: task 7" in shown.stdout


@pytest.mark.slow
def test_sigterm_stops_the_batch_and_its_tasks_resumably(openai_server, tmp_path, env):
    model = TaskModel()
    model.hold("task 2:", 1)
    openai_server.answer_with(model)
    make_repo(tmp_path / "repo")
    tasks = write_tasks(tmp_path / "tasks.jsonl", [
        {"prompt": f"task {n}: write f{n}.txt", "repo": "repo", "approval": "auto-edit"} for n in (1, 2, 3)])
    driver = start(["batch", str(tasks), "--workers", "2", "--base-url", openai_server.base_url, "--json"],
                   env=env, cwd=tmp_path)
    wait_for(lambda: len(model.held) == 1, timeout=60, what="task 2 in flight")
    wait_for(lambda: len(batch_files(tmp_path)) == 1, what="the batch file")
    [batch] = batch_files(tmp_path)
    wait_for(lambda: task_rows(batch)["t2"]["session_path"], what="task 2's session")
    driver.send_signal(signal.SIGTERM)
    out, _ = driver.communicate(timeout=60)
    assert driver.returncode == 130
    events = [json.loads(line) for line in out.splitlines()]
    assert events[-1]["type"] == "batch.finished" and events[-1]["status"] == "interrupted"
    stopped = task_rows(batch)
    assert stopped["t2"]["status"] == "interrupted" and stopped["t2"]["exit_code"] == 130
    model.holds.clear()
    run = agentcli(["batch", "resume", batch.stem, "--json"], env=env, cwd=tmp_path, timeout=60)
    assert run.code == 0, run.stderr
    after = task_rows(batch)
    assert [t["status"] for t in after.values()] == ["done"] * 3
    assert after["t2"]["session_path"] == stopped["t2"]["session_path"]
    assert rows(Path(after["t2"]["session_path"]), "SELECT count(*) AS n FROM tool_calls") == [{"n": 1}]
