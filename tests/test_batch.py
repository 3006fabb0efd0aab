"""``agentcli batch``: many tasks as sessions, one durable batch file, local workers."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from agent_harness import agentcli, rows
from batch_helpers import TaskModel, batch_files, make_repo, task_rows, write_tasks

MODEL = ["--model", "gpt-4o-mini"]  # a model with a known price: costs are shown


def twelve_tasks(tmp_path: Path) -> Path:
    """12 tasks over two repositories and three folders: 8 end done, 3 failed, 1 denied."""
    repo_a, repo_b = make_repo(tmp_path / "repo-a"), make_repo(tmp_path / "repo-b")
    for name in ("ws7", "ws11", "ws12"):
        (tmp_path / name).mkdir()
    edit = {"approval": "auto-edit"}
    return write_tasks(tmp_path / "tasks.jsonl", [
        *({"prompt": f"task {n}: write a{n}.txt", "repo": "repo-a", **edit} for n in range(1, 5)),
        {"prompt": "task 5: write b5.txt", "repo": str(repo_b), "ref": "HEAD", **edit},
        {"prompt": "task 6: write b6.txt", "repo": "repo-b", **edit, "id": "six"},
        {"prompt": "task 7: say hello", "workspace": "ws7"},
        {"prompt": "task 8: fail", "repo": "repo-a"},
        {"prompt": "task 9: write x.txt", "repo": "repo-a"},  # approval ask, no terminal: denied
        {"prompt": "task 10: write y.txt", "repo": str(repo_a), **edit, "max_turns": 1},
        {"prompt": "task 11: fail", "workspace": "ws11"},
        {"prompt": "task 12: write z.txt", "workspace": "ws12", **edit},
    ])


def max_overlap(attempts: list[dict]) -> int:
    """The most attempts that ran at the same time."""
    stamps = sorted([(datetime.fromisoformat(a["started_at"][:-1]), 1) for a in attempts]
                    + [(datetime.fromisoformat(a["finished_at"][:-1]), -1) for a in attempts],
                    key=lambda s: (s[0], s[1]))
    running = most = 0
    for _, step in stamps:
        running += step
        most = max(most, running)
    return most


@pytest.mark.slow
def test_twelve_tasks_on_three_workers_with_failures_and_a_denial(openai_server, tmp_path, env):
    openai_server.answer_with(TaskModel(delay=0.2))
    tasks = twelve_tasks(tmp_path)
    run = agentcli(["batch", str(tasks), "--workers", "3", "--base-url", openai_server.base_url, *MODEL,
                    "-p"], env=env, cwd=tmp_path, timeout=120)
    assert run.code == 1, run.stderr  # a task failed
    assert run.stdout.startswith("12 tasks: 8 done, 3 failed, 1 denied · $"), run.stdout
    [batch] = batch_files(tmp_path)
    tasks_ = task_rows(batch)
    status = {tid: t["status"] for tid, t in tasks_.items()}
    assert status == {"t1": "done", "t2": "done", "t3": "done", "t4": "done", "t5": "done", "six": "done",
                      "t7": "done", "t8": "failed", "t9": "denied", "t10": "failed", "t11": "failed",
                      "t12": "done"}
    assert {tasks_[t]["exit_code"] for t in ("t8", "t11")} == {3} and tasks_["t10"]["exit_code"] == 1
    assert tasks_["t10"]["reason"] == "max_turns" and "400" in tasks_["t8"]["error"]
    assert "denied by the approval policy" in tasks_["t9"]["error"]
    # one line per task on stderr, then the summary
    lines = [line for line in run.stderr.splitlines() if line.startswith("agentcli: [")]
    assert len(lines) == 12 and any("t9 denied" in line for line in lines)
    # every task ran as its own session: the file opens with agentcli show
    for tid, task in tasks_.items():
        if tid in ("t8", "t11"):
            continue  # refused before any answer: agentcli keeps no session
        shown = agentcli(["show", task["session_path"], "--json"], env=env, cwd=tmp_path)
        assert shown.code == 0, shown.stderr
        assert json.loads(shown.stdout)["meta"]["workspace_root"] == task["workspace"]
    done = tasks_["t3"]
    assert done["answer"] == "finished: task 3: write a3.txt" and done["turns"] == 2
    assert done["files_changed"] == 1 and done["cost_usd"] > 0 and done["total_tokens"] > 0
    diff = rows(batch, "SELECT hash FROM blobs WHERE hash = ?", (done["diff_hash"],))
    assert diff, "the diff is kept in the batch file"
    assert (Path(done["workspace"]) / "a3.txt").read_text() == "task 3: write a3.txt\n"
    attempts = rows(batch, "SELECT * FROM attempts")
    assert len(attempts) == 12 and {a["kind"] for a in attempts} == {"new"}
    assert 2 <= max_overlap(attempts) <= 3
    meta = rows(batch, "SELECT status, runner FROM batch")[0]
    assert meta == {"status": "done", "runner": "local"}


@pytest.mark.slow
def test_show_and_export_report_every_task(openai_server, tmp_path, env):
    openai_server.answer_with(TaskModel())
    repo = make_repo(tmp_path / "repo")
    tasks = write_tasks(tmp_path / "tasks.jsonl", [
        {"prompt": "write one.txt", "repo": "repo", "approval": "auto-edit"},
        {"prompt": "write two.txt", "repo": "repo", "approval": "auto-edit"},
        {"prompt": "fail now", "repo": "repo"},
    ])
    run = agentcli(["batch", str(tasks), "--base-url", openai_server.base_url, *MODEL, "--json"],
                   env=env, cwd=tmp_path, timeout=60)
    events = run.events()
    assert events[0]["type"] == "batch.started" and events[-1]["type"] == "batch.finished"
    assert events[-1]["counts"]["done"] == 2 and events[-1]["exit_code"] == 1
    assert sorted(e["task"] for e in events if e["type"] == "task.finished") == ["t1", "t2", "t3"]
    batch_id = events[0]["batch"]
    shown = agentcli(["batch", "show", batch_id[:6]], env=env, cwd=tmp_path)
    assert shown.code == 0
    table = shown.stdout.splitlines()
    assert table[1].split() == ["TASK", "STATUS", "COST", "TURNS", "DURATION", "FILES", "SESSION"]
    assert table[2].split()[:2] == ["t1", "done"] and table[2].split()[5] == "1"
    assert table[4].split()[:2] == ["t3", "failed"]
    assert table[-1].startswith("3 tasks: 2 done, 1 failed")
    as_json = json.loads(agentcli(["batch", "show", "last", "--json"], env=env, cwd=tmp_path).stdout)
    assert [t["status"] for t in as_json["tasks"]] == ["done", "done", "failed"]
    one = agentcli(["batch", "show", "last", "--task", "t2"], env=env, cwd=tmp_path).stdout
    assert "+write two.txt" in one and "attempt 1: new on local" in one
    # the patch series applies to the repository with git am, one commit a task
    series = agentcli(["batch", "export", batch_id], env=env, cwd=tmp_path).stdout
    assert series.count("Subject: [PATCH ") == 2
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(repo)]
    applied = subprocess.run([*git, "am", "-q"], input=series, text=True, capture_output=True)
    assert applied.returncode == 0, applied.stderr
    assert (repo / "one.txt").read_text() == "write one.txt\n" and (repo / "two.txt").exists()
    log = subprocess.run([*git, "log", "--format=%s"], capture_output=True, text=True).stdout
    assert log.splitlines()[:2] == ["t2: write two.txt", "t1: write one.txt"]


@pytest.mark.slow
def test_tasks_on_one_repository_get_a_worktree_each(openai_server, tmp_path, env):
    openai_server.answer_with(TaskModel())
    repo = make_repo(tmp_path / "repo", {"same.txt": "original\n"})
    tasks = write_tasks(tmp_path / "tasks.jsonl", [
        {"prompt": f"write same.txt as task {n}", "repo": "repo", "approval": "auto-edit"} for n in range(3)
    ])
    run = agentcli(["batch", str(tasks), "--workers", "3", "--base-url", openai_server.base_url, "-p"],
                   env=env, cwd=tmp_path, timeout=60)
    assert run.code == 0, run.stderr
    [batch] = batch_files(tmp_path)
    workspaces = [Path(t["workspace"]) for t in task_rows(batch).values()]
    assert len(set(workspaces)) == 3
    for n, folder in enumerate(workspaces):
        assert (folder / "same.txt").read_text() == f"write same.txt as task {n}\n"
        assert (folder / ".git").is_file()  # a worktree, not a copy
    # the user's repository is never written: no worktree of its own, nothing changed
    assert (repo / "same.txt").read_text() == "original\n"
    listed = subprocess.run(["git", "-C", str(repo), "worktree", "list"], capture_output=True, text=True)
    assert len(listed.stdout.splitlines()) == 1
    status = subprocess.run(["git", "-C", str(tmp_path / "repo"), "status", "--porcelain"],
                            capture_output=True, text=True)
    assert status.stdout == ""


def test_bad_task_lines_are_reported_by_number_before_anything_runs(openai_server, tmp_path, env):
    make_repo(tmp_path / "repo")
    (tmp_path / "ws").mkdir()
    tasks = write_tasks(tmp_path / "tasks.jsonl", [
        {"prompt": "fine", "repo": "repo"},
        '{"prompt": "cut short", ',
        {"workspace": "ws"},
        "",
        {"prompt": "both", "workspace": "ws", "repo": "repo"},
        {"prompt": "typo", "repo": "repo", "promt": "x"},
        {"prompt": "first", "workspace": "ws"},
        {"prompt": "shared", "workspace": "ws"},
        {"prompt": "no such", "workspace": "missing"},
        {"prompt": "bad", "repo": "repo", "approval": "yolo", "max_turns": 0},
        "[1, 2]",
    ])
    run = agentcli(["batch", str(tasks), "--base-url", openai_server.base_url], env=env, cwd=tmp_path)
    assert run.code == 2
    err = run.stderr
    assert "8 bad task lines, nothing was run" in err
    for number, words in ((2, "not JSON"), (3, '"prompt" is missing'), (5, "not both"),
                          (6, "unknown field 'promt'"), (8, "is also line 7's"),
                          (9, "is not a folder"), (10, "approval 'yolo'"), (11, "a JSON object")):
        [said] = [line for line in err.splitlines() if line.strip().startswith(f"line {number}: ")]
        assert words in said, (number, err)
    assert "line 1:" not in err and "line 7:" not in err
    assert "Traceback" not in err
    assert not (tmp_path / ".agentcli" / "batches").exists() or not batch_files(tmp_path)
    assert openai_server.requests == []
    # a ref that does not resolve is a bad line too, found before anything runs
    bad_ref = write_tasks(tmp_path / "ref.jsonl", [{"prompt": "x", "repo": "repo", "ref": "no-such-branch"}])
    run = agentcli(["batch", str(bad_ref), "--base-url", openai_server.base_url], env=env, cwd=tmp_path)
    assert run.code == 2 and "line 1: ref 'no-such-branch' is not a commit of" in run.stderr
    assert batch_files(tmp_path) == [] and openai_server.requests == []
    empty = write_tasks(tmp_path / "empty.jsonl", [""])
    run = agentcli(["batch", str(empty)], env=env, cwd=tmp_path)
    assert run.code == 2 and "no tasks in" in run.stderr
    missing = agentcli(["batch", "show", "zzzz"], env=env, cwd=tmp_path)
    assert missing.code == 2 and "no batch 'zzzz'" in missing.stderr


@pytest.mark.slow
def test_the_budget_stops_new_tasks_and_resume_goes_on(openai_server, tmp_path, env):
    openai_server.answer_with(TaskModel())
    for n in range(4):
        (tmp_path / f"ws{n}").mkdir()
    tasks = write_tasks(tmp_path / "tasks.jsonl",
                        [{"prompt": f"task {n}: say hi", "workspace": f"ws{n}"} for n in range(4)])
    run = agentcli(["batch", str(tasks), "--workers", "1", "--max-cost", "0.00000001",
                    "--base-url", openai_server.base_url, *MODEL, "-p"], env=env, cwd=tmp_path, timeout=60)
    assert run.code == 1, run.stderr
    [batch] = batch_files(tmp_path)
    assert [t["status"] for t in task_rows(batch).values()] == ["done", "queued", "queued", "queued"]
    assert rows(batch, "SELECT status FROM batch")[0]["status"] == "stopped"
    assert "batch resume" in run.stderr
    again = agentcli(["batch", "resume", batch.stem, "--max-cost", "5", "-p"], env=env, cwd=tmp_path,
                     timeout=60)
    assert again.code == 0, again.stderr
    assert [t["status"] for t in task_rows(batch).values()] == ["done"] * 4
    assert [t["attempts"] for t in task_rows(batch).values()] == [1, 1, 1, 1]
    assert len(openai_server.requests) == 4  # the finished task was not run again


def test_every_table_and_column_of_the_batch_file_is_documented(tmp_path):
    import re
    import sqlite3

    from agentcli.batch.batchfile import BatchFile

    BatchFile.create(tmp_path / "b.sqlite", workspace_root=tmp_path, tasks_file=tmp_path / "t.jsonl",
                     runner="local", settings={}, repos={}, tasks=[]).close()
    conn = sqlite3.connect(tmp_path / "b.sqlite")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                         "AND name NOT IN ('blobs', '_sqlite_migrations')")]
    doc = (Path(__file__).resolve().parents[1] / "sessions" / "BATCH.md").read_text()
    sections = dict(zip(*[iter(re.split(r"^## +(\S+) *$", doc, flags=re.MULTILINE)[1:])] * 2))
    assert set(sections) == set(tables)
    for table in tables:
        documented = set()
        for cells in re.findall(r"^\| (`[^|]+) \|", sections[table], flags=re.MULTILINE):
            documented |= set(re.findall(r"`([^`]+)`", cells))
        columns = {r[1] for r in conn.execute(f"PRAGMA table_info('{table}')")}
        assert columns - documented == set(), table
    conn.close()


def test_the_live_display_counts_tasks_cost_and_eta():
    import io

    from rich.console import Console

    from agentcli.agent.events import Event
    from agentcli.cli.render.batch_progress import LiveDisplay

    out = io.StringIO()
    display = LiveDisplay(Console(file=out, width=100, force_terminal=False))
    counts = {"queued": 4, "running": 0, "done": 0, "failed": 0, "denied": 0, "interrupted": 0}
    display(Event("batch.started", {"batch": "b1", "tasks": 4, "counts": counts, "workers": 2,
                                    "runner": "local"}))
    for task in ("t1", "t2"):
        display(Event("task.started", {"task": task}))
    display(Event("task.finished", {"task": "t1", "status": "done", "cost_usd": 0.25, "turns": 3,
                                    "files_changed": 2, "duration_ms": 1500, "batch_cost_usd": 0.25}))
    display(Event("task.started", {"task": "t3"}))
    display(Event("task.finished", {"task": "t2", "status": "failed", "cost_usd": 0.1, "turns": 1,
                                    "files_changed": 0, "duration_ms": 900, "error": "the model gave up",
                                    "batch_cost_usd": 0.35}))
    footer = str(display.footer())
    assert footer.startswith("1 done · 1 running · 1 failed · 1 queued · $0.3500 · ETA ")
    display(Event("batch.finished", {}))
    shown = out.getvalue()
    assert "[1/4] t1 done · $0.2500 · 3 turns · 2 files · 1.5s" in shown
    assert "[2/4] t2 failed · $0.1000 · 1 turn · 0 files · 0.9s — the model gave up" in shown


def test_a_session_snapshot_holds_what_sits_in_its_write_ahead_log(tmp_path):
    import sqlite3

    from agentcli.batch.ray_worker import snapshot
    from agentcli.session.session import Session

    session = Session.create(tmp_path / "0123456789abc.sqlite", workspace_root=tmp_path, prompt="hello")
    session.transcript.append("assistant", "still in the log", agent="orchestrator")
    assert (tmp_path / "0123456789abc.sqlite-wal").stat().st_size > 0  # not checkpointed yet
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(snapshot(session.path))
    session.close()
    conn = sqlite3.connect(copy)
    assert conn.execute("SELECT content FROM messages WHERE role = 'assistant'").fetchall() == [
        ("still in the log",)]
    conn.close()


@pytest.mark.slow
def test_a_ray_worker_without_the_batch_folder_checks_the_repo_out_itself(openai_server, tmp_path, env):
    import sqlite3

    from agentcli.batch.ray_worker import run_remote

    openai_server.answer_with(TaskModel())
    repo = make_repo(tmp_path / "repo", {"a.txt": "a\n"})
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    job = {"task": "t1", "prompt": "write f.txt", "workspace": str(tmp_path / "not-on-this-node"),
           "flags": ["--base-url", openai_server.base_url, "--approval", "auto-edit"], "commit": commit,
           "repo": str(repo), "session_name": None, "session_bytes": None, "diff": None,
           "env": {k: v for k, v in env.items() if k.startswith(("OPENAI_", "AGENTCLI_", "XDG_"))}}
    first = run_remote(job)
    assert first["exit_code"] == 0, first["stderr"]
    assert first["session_name"].endswith(".sqlite") and first["session_bytes"].startswith(b"SQLite format 3")
    (tmp_path / "s1.sqlite").write_bytes(first["session_bytes"])
    conn = sqlite3.connect(tmp_path / "s1.sqlite")
    assert conn.execute("SELECT path, op FROM file_changes").fetchall() == [("f.txt", "create")]
    conn.close()
    # resumed elsewhere: a fresh checkout with the session's diff applied, then agentcli resume
    diff = ("diff --git a/f.txt b/f.txt\nnew file mode 100644\n--- /dev/null\n+++ b/f.txt\n"
            "@@ -0,0 +1 @@\n+write f.txt\n")
    again = run_remote({**job, "prompt": "", "session_name": first["session_name"],
                        "session_bytes": first["session_bytes"], "diff": diff})
    assert again["exit_code"] == 0, again["stderr"]
    assert "nothing to do" in again["stderr"] and "changed outside" not in again["stderr"]
    assert not (tmp_path / "not-on-this-node").exists()
