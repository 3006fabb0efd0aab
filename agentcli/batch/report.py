"""What a batch produced: its table, its JSON document, its summary line, its patch series.

All plain text (``batch show`` is piped into ``grep`` in CI as often as it is read).
The patch series is one mbox, a message per task that changed files, in task order, as
``git format-patch`` writes them: ``git am`` applies a task's patch to its repository
at the task's commit, ``git apply`` / ``patch -p1`` to a workspace.
"""

from __future__ import annotations

import email.utils
from datetime import datetime
from typing import Any

from agentcli import __version__
from agentcli.agent.pricing import dollars
from agentcli.batch.batchfile import STATUSES, BatchFile, TaskRow
from agentcli.session.session import title_from

HEADERS = ["TASK", "STATUS", "COST", "TURNS", "DURATION", "FILES", "SESSION"]


def seconds(ms: int | None) -> str:
    """``12.3s``, ``4m05s`` or ``1h02m`` ("" when unknown)."""
    if ms is None:
        return ""
    total = ms / 1000
    if total < 60:
        return f"{total:.1f}s"
    minutes, secs = divmod(int(total), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def task_cells(task: TaskRow) -> list[str]:
    """One row of the table."""
    return [task.id, task.status, dollars(task.cost_usd), "" if task.turns is None else str(task.turns),
            seconds(task.duration_ms), "" if task.files_changed is None else str(task.files_changed),
            task.session_path or ""]


def summary_line(batch: BatchFile) -> str:
    """``12 tasks: 9 done, 2 failed, 1 denied · $0.0123 · 3,456 tokens · 1m20s of sessions``."""
    counts = batch.counts()
    total = sum(counts.values())
    parts = [f"{counts[s]} {s}" for s in STATUSES if counts[s]]
    tokens = sum(t.total_tokens or 0 for t in batch.tasks())
    duration = sum(t.duration_ms or 0 for t in batch.tasks())
    cost = batch.spent()
    money = f" · {dollars(cost)}" if cost else ""
    return (f"{total} task{'s' if total != 1 else ''}: {', '.join(parts)}{money} · {tokens:,} tokens"
            f" · {seconds(duration)} of sessions")


def task_json(task: TaskRow, batch: BatchFile, *, diff: bool = False) -> dict[str, Any]:
    """One task as ``batch show --json`` gives it."""
    doc: dict[str, Any] = {
        "id": task.id, "line": task.line, "prompt": task.prompt, "status": task.status,
        "workspace": task.workspace, "repo": task.task.repo, "ref": task.task.ref, "commit": task.commit_sha,
        "session": task.session_id, "session_path": task.session_path, "exit_code": task.exit_code,
        "reason": task.reason, "error": task.error, "cost_usd": task.cost_usd,
        "tokens": {"prompt": task.prompt_tokens, "completion": task.completion_tokens,
                   "total": task.total_tokens},
        "turns": task.turns, "duration_ms": task.duration_ms, "files_changed": task.files_changed,
        "attempts": task.attempts, "answer": task.answer, "started_at": task.started_at,
        "finished_at": task.finished_at,
    }
    if diff:
        doc["diff"] = batch.diff(task)
    return doc


def batch_json(batch: BatchFile, *, diffs: bool = False) -> dict[str, Any]:
    """The whole batch as one document: its row, counts, totals and every task."""
    meta = batch.meta()
    tasks = [task_json(t, batch, diff=diffs) for t in batch.tasks()]
    return {
        "batch": meta["id"], "path": str(batch.path), "status": meta["status"], "runner": meta["runner"],
        "workspace": meta["workspace_root"], "tasks_file": meta["tasks_file"], "settings": meta["settings"],
        "created_at": meta["created_at"], "counts": batch.counts(),
        "totals": {"cost_usd": batch.spent(), "tokens": sum(t["tokens"]["total"] or 0 for t in tasks),
                   "duration_ms": sum(t["duration_ms"] or 0 for t in tasks)},
        "tasks": tasks,
    }


def patch_series(batch: BatchFile, *, statuses: tuple[str, ...] = ()) -> str:
    """Every task's diff as one mbox of patches (only tasks of ``statuses`` when given)."""
    chosen = [t for t in batch.tasks() if t.diff_hash and (not statuses or t.status in statuses)]
    messages = [_patch(task, batch, n, len(chosen)) for n, task in enumerate(chosen, start=1)]
    return "".join(messages)


def _patch(task: TaskRow, batch: BatchFile, number: int, total: int) -> str:
    when = _mail_date(task.finished_at or task.started_at)
    where = task.task.repo or task.workspace
    at = f" at {task.commit_sha[:12]}" if task.commit_sha else ""
    body = (f"{task.prompt.strip()}\n\nTask {task.id} (line {task.line}) of batch {batch.path.stem}: "
            f"{task.status}; {where}{at}; session {task.session_id or '-'}.\n")
    subject = title_from(task.prompt).replace("\n", " ")
    return (f"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
            f"From: agentcli batch <agentcli@localhost>\nDate: {when}\n"
            f"Subject: [PATCH {number}/{total}] {task.id}: {subject}\n\n{body}---\n"
            f"{batch.diff(task)}-- \nagentcli {__version__}\n\n")


def _mail_date(iso: str | None) -> str:
    try:
        stamp = datetime.fromisoformat((iso or "").replace("Z", "+00:00"))
    except ValueError:
        stamp = datetime.now().astimezone()
    return email.utils.format_datetime(stamp)
