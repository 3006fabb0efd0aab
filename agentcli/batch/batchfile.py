"""The batch file: ``.agentcli/batches/<id>.sqlite``, a durable object of its own.

Built on the durable-object layer (``store/``), like a session file: created whole in
one atomic step, WAL, every step committed before the next, one writer (the driver; a
second ``batch resume`` is refused with the holder's pid, exit 4), readable while busy.
This module holds all of the batch's SQL; everything above it sees :class:`TaskRow`.
Tables (documented in ``sessions/README.md``, "The batch file"):

- ``batch``: one row — id, workspace root, task file, runner, settings, status;
- ``repos``: each repository the tasks name, and the batch's own clone of it;
- ``tasks``: one row a task — its spec, where it runs, its session file, status,
  exit code, cost, tokens, turns, duration, final answer and diff (a blob);
- ``attempts``: one row each time a task's session was started or resumed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from agentcli import __version__
from agentcli.batch.tasks import TaskSpec
from agentcli.errors import SessionNotFoundError, UsageError
from agentcli.session.records import now_iso
from agentcli.store.durable import DurableFile, Schema
from agentcli.store.ids import looks_like_id, new_id

APPLICATION_ID = 0x41474E42  # "AGNB": marks a SQLite file as an agentcli batch
SCHEMA = Schema("agentcli-batch", application_id=APPLICATION_ID, label="agentcli batch file", noun="batch")
STATUSES = ("queued", "running", "done", "failed", "denied", "interrupted")
FINISHED = ("done", "failed", "denied")
SUFFIX = ".sqlite"


@SCHEMA.migration
def m002_batch_tables(db: Any) -> None:
    """The batch, its repositories, tasks and attempts."""
    for statement in _BATCH_TABLES.split(";"):
        if statement.strip():
            db.execute(statement)


_BATCH_TABLES = f"""
    CREATE TABLE batch (
        id TEXT PRIMARY KEY, workspace_root TEXT NOT NULL, tasks_file TEXT NOT NULL,
        runner TEXT NOT NULL DEFAULT 'local', settings TEXT NOT NULL DEFAULT '{{}}',
        status TEXT NOT NULL DEFAULT 'queued', created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        agentcli_version TEXT NOT NULL
    );
    CREATE TABLE repos (
        id INTEGER PRIMARY KEY, source TEXT NOT NULL UNIQUE, clone_path TEXT NOT NULL
    );
    CREATE TABLE tasks (
        position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, line INTEGER NOT NULL,
        prompt TEXT NOT NULL, spec TEXT NOT NULL, workspace TEXT NOT NULL,
        repo_id INTEGER REFERENCES repos(id), commit_sha TEXT,
        status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ({", ".join(repr(s) for s in STATUSES)})),
        session_id TEXT, session_path TEXT, exit_code INTEGER, reason TEXT, error TEXT,
        cost_usd REAL, prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER,
        turns INTEGER, duration_ms INTEGER, answer TEXT, diff_hash TEXT, files_changed INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0, started_at TEXT, finished_at TEXT
    );
    CREATE INDEX tasks_status ON tasks (status, position);
    CREATE TABLE attempts (
        id INTEGER PRIMARY KEY, task_id TEXT NOT NULL REFERENCES tasks(id), number INTEGER NOT NULL,
        kind TEXT NOT NULL, runner TEXT NOT NULL, worker TEXT, status TEXT NOT NULL DEFAULT 'running',
        exit_code INTEGER, error TEXT, started_at TEXT NOT NULL, finished_at TEXT, duration_ms INTEGER
    )
"""


@dataclass(frozen=True)
class TaskRow:
    """One row of ``tasks``, as plain values."""

    position: int
    id: str
    line: int
    prompt: str
    spec: str
    workspace: str
    repo_id: int | None
    commit_sha: str | None
    status: str
    session_id: str | None
    session_path: str | None
    exit_code: int | None
    reason: str | None
    error: str | None
    cost_usd: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    turns: int | None
    duration_ms: int | None
    answer: str | None
    diff_hash: str | None
    files_changed: int | None
    attempts: int
    started_at: str | None
    finished_at: str | None

    @property
    def task(self) -> TaskSpec:
        """The task's spec, as its line gave it."""
        return TaskSpec.from_json(json.loads(self.spec))


@dataclass(frozen=True)
class Outcome:
    """What one attempt ended with: what goes into its ``attempts`` and ``tasks`` rows."""

    status: str
    exit_code: int | None
    reason: str | None = None
    error: str | None = None
    cost_usd: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    turns: int | None = None
    answer: str | None = None
    diff: str | None = None
    files_changed: int | None = None


@dataclass(frozen=True)
class PlannedTask:
    """A task ready to be stored: its spec, the folder it runs in, its repository and commit."""

    spec: TaskSpec
    workspace: Path
    repo_id: int | None = None
    commit_sha: str | None = None


_TASK_COLUMNS = ", ".join(f.name for f in fields(TaskRow))


class BatchFile:
    """One batch file, open as its writer (the driver) or as a reader.

    Example:
        >>> with BatchFile.open(path, writer=False) as batch:
        ...     print(batch.counts())
    """

    def __init__(self, store: DurableFile):
        self.store = store
        self.path = store.path
        self.db = store.db
        self.blobs = store.blobs

    @classmethod
    def create(cls, path: Path, *, workspace_root: Path, tasks_file: Path, runner: str,
               settings: dict[str, Any], repos: dict[str, Path], tasks: Iterable[PlannedTask]) -> BatchFile:
        """Create the batch file whole, every task ``queued`` (a kill leaves no file or all of it).

        ``repos`` maps each repository source to the batch's clone; ``PlannedTask.repo_id``
        is the position of its source in ``repos``, from 1.
        """
        def fill(store: DurableFile) -> None:
            db, now = store.db, now_iso()
            db.execute("INSERT INTO batch (id, workspace_root, tasks_file, runner, settings, status, "
                       "created_at, updated_at, agentcli_version) VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
                       [path.stem, str(workspace_root), str(tasks_file), runner, json.dumps(settings),
                        now, now, __version__])
            db.executemany("INSERT INTO repos (id, source, clone_path) VALUES (?, ?, ?)",
                           [(n, source, str(clone)) for n, (source, clone) in enumerate(repos.items(), 1)])
            db.executemany(
                "INSERT INTO tasks (id, line, prompt, spec, workspace, repo_id, commit_sha) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(t.spec.id, t.spec.line, t.spec.prompt, json.dumps(t.spec.to_json()), str(t.workspace),
                  t.repo_id, t.commit_sha) for t in tasks])

        return cls(DurableFile.create(path, SCHEMA, fill))

    @classmethod
    def open(cls, path: Path, *, writer: bool) -> BatchFile:
        """Open an existing batch file; ``writer`` takes its single-writer lock (exit 4 when busy)."""
        return cls(DurableFile.open(path, SCHEMA, writer=writer))

    # -- the batch row ---------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """The ``batch`` row (``settings`` decoded)."""
        row = next(self.db.query("SELECT * FROM batch"))
        row["settings"] = json.loads(row["settings"])
        return row

    def set_status(self, status: str) -> None:
        """The batch's own status: ``running``, ``done``, ``stopped`` (budget), ``interrupted``."""
        self.db.execute("UPDATE batch SET status = ?, updated_at = ?", [status, now_iso()])

    def update_settings(self, **changes: Any) -> None:
        """Change the stored settings a ``batch resume`` reads (workers, budget, ...)."""
        settings = {**self.meta()["settings"], **changes}
        self.db.execute("UPDATE batch SET settings = ?, updated_at = ?", [json.dumps(settings), now_iso()])

    def repos(self) -> dict[int, tuple[str, Path]]:
        """Repository id → (its source as the task file gave it, the batch's clone)."""
        return {r["id"]: (r["source"], Path(r["clone_path"])) for r in self.db.query("SELECT * FROM repos")}

    # -- tasks -----------------------------------------------------------------------
    def tasks(self, status: str | None = None) -> Iterator[TaskRow]:
        """Every task in file order (only those of ``status`` when given), read row by row."""
        where, params = ("WHERE status = ?", [status]) if status else ("", [])
        with self.db.cursor(f"SELECT {_TASK_COLUMNS} FROM tasks {where} ORDER BY position", params) as rows:
            for values in rows:
                yield TaskRow(*values)

    def task(self, task_id: str) -> TaskRow:
        """One task by id."""
        values = self.db.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", [task_id]).fetchone()
        if values is None:
            raise SessionNotFoundError(f"no task {task_id!r} in batch {self.path.stem}")
        return TaskRow(*values)

    def counts(self) -> dict[str, int]:
        """How many tasks have each status (every status present, 0 when none)."""
        found = dict(self.db.execute("SELECT status, count(*) FROM tasks GROUP BY status").fetchall())
        return {status: found.get(status, 0) for status in STATUSES}

    def spent(self) -> float:
        """Dollars the tasks' sessions have cost so far (unknown prices count 0)."""
        return float(self.db.scalar("SELECT coalesce(sum(cost_usd), 0) FROM tasks") or 0)

    def claim_next(self, runner: str, skip: Iterable[str] = ()) -> tuple[TaskRow, int] | None:
        """Take the next task to run — an interrupted one first, then the first queued, none
        of ``skip`` — mark it ``running`` and open its attempt, in one step; None when none is left."""
        with self.store.transaction():
            row = self.db.execute(
                f"SELECT {_TASK_COLUMNS} FROM tasks WHERE status IN ('interrupted', 'queued') "
                "AND id NOT IN (SELECT value FROM json_each(?)) "
                "ORDER BY status = 'queued', position LIMIT 1", [json.dumps(sorted(skip))]).fetchone()
            if row is None:
                return None
            task = TaskRow(*row)
            return task, self._open_attempt(task, runner)

    def _open_attempt(self, task: TaskRow, runner: str) -> int:
        kind = "resume" if task.session_path else "new"
        now = now_iso()
        self.db.execute("UPDATE tasks SET status = 'running', attempts = attempts + 1, "
                        "started_at = coalesce(started_at, ?) WHERE id = ?", [now, task.id])
        return self.db.execute(
            "INSERT INTO attempts (task_id, number, kind, runner, started_at) VALUES (?, ?, ?, ?, ?)",
            [task.id, task.attempts + 1, kind, runner, now]).lastrowid

    def attempt_worker(self, attempt_id: int, worker: str) -> None:
        """Say which process (or Ray node) runs an attempt."""
        self.db.execute("UPDATE attempts SET worker = ? WHERE id = ?", [worker, attempt_id])

    def record_session(self, task_id: str, session_path: Path | None) -> None:
        """Remember the task's session file as soon as it is known (None: it was not kept)."""
        self.db.execute("UPDATE tasks SET session_id = ?, session_path = ? WHERE id = ?",
                        [session_path.stem if session_path else None,
                         str(session_path) if session_path else None, task_id])

    def finish(self, task_id: str, attempt_id: int, outcome: Outcome, duration_ms: int) -> None:
        """Close an attempt and write its outcome into the task, in one step."""
        now = now_iso()
        with self.store.transaction():
            self.db.execute("UPDATE attempts SET status = ?, exit_code = ?, error = ?, finished_at = ?, "
                            "duration_ms = ? WHERE id = ?",
                            [outcome.status, outcome.exit_code, outcome.error, now, duration_ms, attempt_id])
            diff_hash = self.blobs.put(outcome.diff.encode()) if outcome.diff else None
            self.db.execute(
                "UPDATE tasks SET status = ?, exit_code = ?, reason = ?, error = ?, cost_usd = ?, "
                "prompt_tokens = ?, completion_tokens = ?, total_tokens = ?, turns = ?, "
                "duration_ms = coalesce(duration_ms, 0) + ?, answer = coalesce(?, answer), "
                "diff_hash = coalesce(?, diff_hash), files_changed = coalesce(?, files_changed), "
                "finished_at = ? WHERE id = ?",
                [outcome.status, outcome.exit_code, outcome.reason, outcome.error, outcome.cost_usd,
                 outcome.prompt_tokens, outcome.completion_tokens, outcome.total_tokens, outcome.turns,
                 duration_ms, outcome.answer, diff_hash, outcome.files_changed,
                 now if outcome.status in FINISHED else None, task_id])

    def interrupt_running(self) -> list[str]:
        """After a driver that died: every ``running`` task becomes ``interrupted`` (its
        session is resumed next), every open attempt ``interrupted``. Returns their ids."""
        with self.store.transaction():
            ids = [r[0] for r in self.db.execute("SELECT id FROM tasks WHERE status = 'running'").fetchall()]
            self.db.execute("UPDATE tasks SET status = 'interrupted' WHERE status = 'running'")
            self.db.execute("UPDATE attempts SET status = 'interrupted', finished_at = ?, "
                            "error = coalesce(error, 'the batch driver stopped') WHERE status = 'running'",
                            [now_iso()])
        return ids

    def diff(self, task: TaskRow) -> str:
        """The diff a task's session produced ('' when none)."""
        return self.blobs.get(task.diff_hash).decode() if task.diff_hash else ""

    def attempts(self, task_id: str | None = None) -> list[dict[str, Any]]:
        """The ``attempts`` rows, oldest first (one task's when given)."""
        where, params = ("WHERE task_id = ?", [task_id]) if task_id else ("", [])
        return list(self.db.query(f"SELECT * FROM attempts {where} ORDER BY id", params))

    def close(self) -> None:
        """Close the file and let the writer lock go."""
        self.store.close()

    def __enter__(self) -> BatchFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def batches_folder(state_dir: Path) -> Path:
    """Where a workspace's batch files live: ``.agentcli/batches``."""
    return state_dir / "batches"


def new_batch_path(state_dir: Path) -> Path:
    """A fresh batch file path (the file itself is made by :meth:`BatchFile.create`)."""
    return batches_folder(state_dir) / f"{new_id()}{SUFFIX}"


def find_batch(state_dir: Path, ref: str) -> Path:
    """The batch file ``ref`` names: an id, a unique prefix (4+ characters), ``last``, or a path.

    Raises:
        SessionNotFoundError: nothing matches.
        UsageError: a prefix too short or matching several batches.
    """
    ref = ref.strip()
    if ref.endswith(SUFFIX) or "/" in ref:
        path = Path(ref).expanduser()
        if not path.is_file():
            raise SessionNotFoundError(f"no batch file at {ref}")
        return path
    folder = batches_folder(state_dir)
    files = sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []
    if ref == "last":
        if not files:
            raise SessionNotFoundError(f"no batch in {folder} (start one with agentcli batch TASKS.jsonl)")
        return files[-1]
    if len(ref) < 4 or not looks_like_id(ref.lower()):
        raise UsageError(f"'{ref}' is not a batch id, a prefix of 4+ characters, 'last' or a .sqlite path")
    matches = [p for p in files if p.stem.startswith(ref.lower())]
    if not matches:
        raise SessionNotFoundError(f"no batch '{ref}' in {folder}")
    if len(matches) > 1:
        raise UsageError(f"'{ref}' matches {len(matches)} batches: give more characters")
    return matches[0]


def elapsed_ms(since: float) -> int:
    """Milliseconds since ``since`` (a ``time.monotonic()`` reading)."""
    return int((time.monotonic() - since) * 1000)
