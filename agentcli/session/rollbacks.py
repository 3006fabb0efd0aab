"""The ``rollbacks`` table and the file-log queries a rollback and a diff need."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agentcli.session.records import Checkpoint, FileChange, now_iso
from agentcli.store.db import Db

_CHUNK = 500


@dataclass
class RollbackRecord:
    """One rollback (or the undo of one), as recorded in ``rollbacks``."""

    id: int
    checkpoint_id: int | None
    mode: str
    forced: bool
    status: str
    undo_of: int | None
    undone_by: int | None
    created_at: str
    finished_at: str | None
    summary: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RollbackRecord:
        """Build from a ``rollbacks`` row."""
        return cls(**{**row, "forced": bool(row["forced"]), "summary": json.loads(row["summary"] or "{}")})


@dataclass
class CheckpointInfo:
    """A checkpoint as ``agentcli checkpoints`` lists it."""

    id: int
    prompt_id: int | None
    prompt: str
    created_at: str
    file_count: int | None
    changes: int  # file_changes rows made during this prompt (up to the next checkpoint)
    rolled_back_by: int | None


class Rollbacks:
    """Rollbacks, and reads of ``file_changes`` by watermark, path and rollback.

    Example:
        >>> rollback_id = session.rollbacks.begin(3, "both", forced=False)
        >>> session.rollbacks.finish(rollback_id, "done", {"restored": 2})
    """

    def __init__(self, db: Db):
        self._db = db

    def begin(self, checkpoint_id: int | None, mode: str, *, forced: bool, undo_of: int | None = None) -> int:
        """Record a rollback as ``running`` before it touches anything; returns its id."""
        cur = self._db.execute(
            "INSERT INTO rollbacks (checkpoint_id, mode, forced, status, undo_of, created_at) "
            "VALUES (?, ?, ?, 'running', ?, ?)",
            [checkpoint_id, mode, int(forced), undo_of, now_iso()],
        )
        if undo_of is not None:
            self._db.execute("UPDATE rollbacks SET undone_by = ? WHERE id = ?", [cur.lastrowid, undo_of])
        return cur.lastrowid

    def finish(self, rollback_id: int, status: str, summary: dict[str, Any]) -> None:
        """Close a rollback: ``done`` or ``interrupted``, with what it did."""
        self._db.execute(
            "UPDATE rollbacks SET status = ?, summary = ?, finished_at = ? WHERE id = ?",
            [status, json.dumps(summary), now_iso(), rollback_id],
        )

    def get(self, rollback_id: int) -> RollbackRecord:
        """The rollback with this id."""
        row = next(self._db.query("SELECT * FROM rollbacks WHERE id = ?", [rollback_id]))
        return RollbackRecord.from_row(row)

    def all(self) -> list[RollbackRecord]:
        """Every rollback, oldest first."""
        return [RollbackRecord.from_row(r) for r in self._db.query("SELECT * FROM rollbacks ORDER BY id")]

    def running(self) -> list[RollbackRecord]:
        """Rollbacks a dead process left ``running``."""
        rows = self._db.query("SELECT * FROM rollbacks WHERE status = 'running' ORDER BY id")
        return [RollbackRecord.from_row(r) for r in rows]

    def last_undoable(self) -> RollbackRecord | None:
        """The newest rollback that is not an undo and has not been undone."""
        rows = list(self._db.query(
            "SELECT * FROM rollbacks WHERE undo_of IS NULL AND undone_by IS NULL AND status != 'running' "
            "ORDER BY id DESC LIMIT 1"
        ))
        return RollbackRecord.from_row(rows[0]) if rows else None

    def changes(self, rollback_id: int, status: str | None = None) -> list[FileChange]:
        """The ``file_changes`` rows one rollback wrote, oldest first."""
        sql, params = "SELECT * FROM file_changes WHERE rollback_id = ?", [rollback_id]
        if status is not None:
            sql, params = sql + " AND status = ?", [*params, status]
        return [FileChange.from_row(r) for r in self._db.query(sql + " ORDER BY id", params)]

    def last_changes(self, paths: Iterable[str]) -> dict[str, FileChange]:
        """The newest applied change of each path (paths never changed are left out)."""
        found: dict[str, FileChange] = {}
        wanted = sorted(set(paths))
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            rows = self._db.query(
                "SELECT * FROM file_changes WHERE id IN (SELECT max(id) FROM file_changes WHERE status = "
                f"'applied' AND path IN ({','.join('?' * len(chunk))}) GROUP BY path)",
                chunk,
            )
            found.update((r["path"], FileChange.from_row(r)) for r in rows)
        return found

    def latest_live_checkpoint(self) -> Checkpoint | None:
        """The checkpoint of the newest prompt that is not rolled back."""
        rows = list(self._db.query(
            "SELECT c.* FROM checkpoints c JOIN prompts p ON p.id = c.prompt_id "
            "WHERE p.rolled_back_by IS NULL ORDER BY c.id DESC LIMIT 1"
        ))
        return Checkpoint.from_row(rows[0]) if rows else None

    def overview(self) -> list[CheckpointInfo]:
        """Every checkpoint with its prompt and how many changes its prompt made."""
        rows = list(self._db.query(
            "SELECT c.id, c.prompt_id, coalesce(p.text, '') AS prompt, c.created_at, c.file_count, "
            "c.last_file_change_id AS mark, p.rolled_back_by FROM checkpoints c "
            "LEFT JOIN prompts p ON p.id = c.prompt_id ORDER BY c.id"
        ))
        infos = []
        for i, row in enumerate(rows):
            upper = rows[i + 1]["mark"] if i + 1 < len(rows) else None
            count = self._db.scalar(
                "SELECT count(*) FROM file_changes WHERE id > ? AND (? IS NULL OR id <= ?) "
                "AND status = 'applied' AND rollback_id IS NULL",
                [row["mark"], upper, upper],
            )
            infos.append(CheckpointInfo(row["id"], row["prompt_id"], row["prompt"], row["created_at"],
                                        row["file_count"], count, row["rolled_back_by"]))
        return infos
