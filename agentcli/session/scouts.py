"""The ``scouts`` table: each scout of a fan-out, linked to its tool call and task.

A fan-out's rows are written up-front, ``queued``, together with each scout's opening
messages, so a resumed session knows every scout a ``scout`` call started. A scout's
report is stored the moment it arrives; ``done`` and ``failed`` are final.
"""

from __future__ import annotations

from collections.abc import Sequence

from agentcli.session.records import ScoutRecord, now_iso
from agentcli.session.redaction import Redactor
from agentcli.store.db import Db


def scout_agent_name(tool_call_row: int, position: int) -> str:
    """The agent id of a scout: ``scout-<tool_calls row>-<task number from 1>``."""
    return f"scout-{tool_call_row}-{position + 1}"


class Scouts:
    """Rows of ``scouts``.

    Example:
        >>> rows = session.scouts.add(row, call_id="c1", parent_agent="orchestrator",
        ...                           prompt_id=1, tasks=["find X"], depth=1, model="m")
        >>> session.scouts.finish(rows[0].id, "done", report="X is in a.py", steps=2, duration_ms=900)
    """

    def __init__(self, db: Db, redactor: Redactor | None = None):
        self._db = db
        self._redact = redactor or Redactor()

    def add(self, tool_call_row: int, *, call_id: str, parent_agent: str, prompt_id: int | None,
            tasks: Sequence[str], depth: int, model: str) -> list[ScoutRecord]:
        """Record one ``queued`` scout per task (call inside the step's transaction)."""
        now = now_iso()
        self._db.executemany(
            "INSERT INTO scouts (agent, tool_call_id, call_id, parent_agent, prompt_id, position, task, "
            "depth, model, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
            [(scout_agent_name(tool_call_row, i), tool_call_row, call_id, parent_agent, prompt_id, i,
              self._redact.text(task), depth, model, now) for i, task in enumerate(tasks)],
        )
        return self.for_call(tool_call_row)

    def for_call(self, tool_call_row: int) -> list[ScoutRecord]:
        """The scouts of one ``scout`` tool call, in task order."""
        rows = self._db.query("SELECT * FROM scouts WHERE tool_call_id = ? ORDER BY position",
                              [tool_call_row])
        return [ScoutRecord.from_row(r) for r in rows]

    def get(self, scout_id: int) -> ScoutRecord:
        """The scout with this row id."""
        return ScoutRecord.from_row(next(self._db.query("SELECT * FROM scouts WHERE id = ?", [scout_id])))

    def find(self, ref: str) -> ScoutRecord | None:
        """The scout named by its agent id (``scout-12-3``) or its row id."""
        rows = list(self._db.query("SELECT * FROM scouts WHERE agent = ? OR CAST(id AS TEXT) = ?",
                                   [ref, ref]))
        return ScoutRecord.from_row(rows[0]) if rows else None

    def all(self) -> list[ScoutRecord]:
        """Every scout, oldest first."""
        return [ScoutRecord.from_row(r) for r in self._db.query("SELECT * FROM scouts ORDER BY id")]

    def start(self, scout_id: int) -> None:
        """Mark a scout ``running`` (its first start time is kept across resumes)."""
        self._db.execute(
            "UPDATE scouts SET status = 'running', started_at = coalesce(started_at, ?) WHERE id = ?",
            [now_iso(), scout_id],
        )

    def finish(self, scout_id: int, status: str, *, report: str | None = None, error: str | None = None,
               steps: int, duration_ms: int | None) -> None:
        """Close a scout: ``done`` with its report, ``failed`` with why, or ``interrupted``."""
        self._db.execute(
            "UPDATE scouts SET status = ?, report = ?, error = ?, steps = ?, finished_at = ?, "
            "duration_ms = ? WHERE id = ?",
            [status, report and self._redact.text(report), error and self._redact.text(error), steps,
             now_iso(), duration_ms, scout_id],
        )

    def steps(self, agent: str) -> int:
        """How many model calls a scout has had answered (its assistant messages)."""
        return self._db.scalar(
            "SELECT count(*) FROM messages WHERE agent = ? AND role = 'assistant' AND rolled_back_by IS NULL",
            [agent],
        )

    def mark_rolled_back(self, after_prompt_id: int, rollback_id: int) -> int:
        """Mark the scouts of prompts after ``after_prompt_id`` as rolled back."""
        cur = self._db.execute(
            "UPDATE scouts SET rolled_back_by = ? WHERE prompt_id > ? AND rolled_back_by IS NULL",
            [rollback_id, after_prompt_id],
        )
        return cur.rowcount

    def unmark_rolled_back(self, rollback_id: int) -> int:
        """Bring back the scouts one rollback marked."""
        cur = self._db.execute("UPDATE scouts SET rolled_back_by = NULL WHERE rolled_back_by = ?",
                               [rollback_id])
        return cur.rowcount
