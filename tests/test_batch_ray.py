"""``agentcli batch --ray``: the tasks as Ray tasks on a local cluster started by the test."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
from agent_harness import agentcli, rows, start
from batch_helpers import TaskModel, batch_files, make_repo, task_rows, user_prompt, wait_for, write_tasks

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs for this module's tests (this process is its driver)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def task_process(marker: str) -> tuple[int, int] | None:
    """(pid, parent pid) of the agentcli process running the task whose worktree is ``marker``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"agentcli.batch.child" in cmdline and any(arg.endswith(marker.encode()) for arg in cmdline):
            return int(entry.name), parent
    return None


def six_tasks(tmp_path: Path) -> Path:
    make_repo(tmp_path / "repo")
    edit = {"approval": "auto-edit"}
    return write_tasks(tmp_path / "tasks.jsonl", [
        *({"prompt": f"task {n}: write f{n}.txt", "repo": "repo", **edit} for n in range(1, 5)),
        {"prompt": "task 5: fail", "repo": "repo"},
        {"prompt": "task 6: write g.txt", "repo": "repo"},  # asks for approval: denied
    ])


def test_ray_runs_the_batch_and_retries_a_task_whose_worker_was_killed(cluster, openai_server, tmp_path, env):
    model = TaskModel()
    model.hold("task 3:", 0)
    openai_server.answer_with(model)
    tasks = six_tasks(tmp_path)
    killed: list[int] = []

    def kill_the_worker_of_task_3() -> None:
        wait_for(lambda: "task 3: write f3.txt" in model.held, timeout=120, what="task 3 in flight")
        found = None
        until = time.monotonic() + 30
        while found is None and time.monotonic() < until:
            found = task_process("/work/t3")
            time.sleep(0.05)
        assert found is not None, "task 3's process"
        model.holds.clear()  # the retry is answered
        os.kill(found[1], signal.SIGKILL)  # the Ray worker running the task, mid-task
        killed.append(found[1])

    killer = threading.Thread(target=kill_the_worker_of_task_3, daemon=True)
    killer.start()
    run = agentcli(["batch", str(tasks), "--ray", "auto", "--base-url", openai_server.base_url, "-p"],
                   env=env, cwd=tmp_path, timeout=240)
    killer.join(5)
    assert killed, "the worker was not killed"
    assert run.code == 1, run.stderr  # task 5 failed
    [batch] = batch_files(tmp_path)
    tasks_ = task_rows(batch)
    assert {t: r["status"] for t, r in tasks_.items()} == {
        "t1": "done", "t2": "done", "t3": "done", "t4": "done", "t5": "failed", "t6": "denied"}
    three = tasks_["t3"]
    assert three["answer"] == "finished: task 3: write f3.txt" and three["files_changed"] == 1
    assert (Path(three["workspace"]) / "f3.txt").read_text() == "task 3: write f3.txt\n"
    # Ray retried it on another worker, which started it again (no session had come back)
    [attempt] = rows(batch, "SELECT * FROM attempts WHERE task_id = 't3'")
    assert attempt["runner"] == "ray" and attempt["status"] == "done"
    assert f"pid {killed[0]}" not in attempt["worker"]
    firsts = [r for r in openai_server.requests
              if user_prompt(r.body) == "task 3: write f3.txt" and len(r.body["messages"]) == 2]
    assert len(firsts) == 2
    # the session files came back to the batch's machine, and open with agentcli show
    for tid in ("t1", "t3", "t6"):
        path = Path(tasks_[tid]["session_path"])
        assert path.parent == batch.with_suffix("") / "sessions" / tid
        shown = agentcli(["show", str(path)], env=env, cwd=tmp_path)
        assert shown.code == 0 and "finished:" in shown.stdout
    assert rows(batch, "SELECT runner FROM batch")[0]["runner"] == "ray"


def test_ray_batch_survives_a_kill_9_of_its_driver(cluster, openai_server, tmp_path, env):
    model = TaskModel()
    model.hold("task 2:", 1)  # its write is done; the answer after it is in flight
    model.hold("task 3:", 0)
    openai_server.answer_with(model)
    tasks = six_tasks(tmp_path)
    driver = start(["batch", str(tasks), "--ray", cluster, "--base-url", openai_server.base_url, "-p"],
                   env=env, cwd=tmp_path)
    try:
        wait_for(lambda: len(batch_files(tmp_path)) == 1, timeout=60, what="the batch file")
        [batch] = batch_files(tmp_path)
        wait_for(lambda: len(model.held) == 2, timeout=120, what="tasks 2 and 3 in flight")
        wait_for(lambda: task_rows(batch)["t1"]["status"] == "done", timeout=60, what="task 1 recorded")
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(10)
    finally:
        if driver.poll() is None:
            driver.kill()
    wait_for(lambda: task_process("/work/t2") is None and task_process("/work/t3") is None, timeout=60,
             what="the tasks of the dead driver to stop")
    sent_before = len(openai_server.requests)
    model.holds.clear()
    run = agentcli(["batch", "resume", batch.stem, "-p"], env=env, cwd=tmp_path, timeout=240)
    assert run.code == 1, run.stderr
    after = task_rows(batch)
    assert [after[t]["status"] for t in ("t1", "t2", "t3", "t4", "t5", "t6")] == [
        "done", "done", "done", "done", "failed", "denied"]
    assert after["t1"]["attempts"] == 1
    later = [user_prompt(r.body) for r in openai_server.requests[sent_before:]]
    assert "task 1: write f1.txt" not in later  # finished: never run again
    assert after["t2"]["attempts"] == 2 and after["t3"]["attempts"] == 2
    assert (Path(after["t2"]["workspace"]) / "f2.txt").read_text() == "task 2: write f2.txt\n"
    kinds = [a["status"] for a in rows(batch, "SELECT status FROM attempts WHERE task_id = 't2' ORDER BY id")]
    assert kinds == ["interrupted", "done"]
