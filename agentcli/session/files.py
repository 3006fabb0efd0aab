"""The file modification log, checkpoints, the plan and approval grants."""

from __future__ import annotations

from dataclasses import fields

from agentcli.session.records import Checkpoint, FileChange, Grant, PlanItem, now_iso
from agentcli.session.redaction import Redactor
from agentcli.store.db import Db

_CHANGE_COLUMNS = [f.name for f in fields(FileChange) if f.name != "id"]
_CREATED = _CHANGE_COLUMNS.index("created_at")
_RESTORABLE = _CHANGE_COLUMNS.index("restorable")
_INSERT_CHANGE = (f"INSERT INTO file_changes ({', '.join(_CHANGE_COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(_CHANGE_COLUMNS))})")


class FileLog:
    """The ``file_changes`` table: every change the session made to the workspace."""

    def __init__(self, db: Db):
        self._db = db

    def log(self, change: FileChange) -> int:
        """Append one change; returns its row id."""
        # getattr, not dataclasses.asdict: asdict deep-copies and was a third of a scan's commit.
        values = [getattr(change, name) for name in _CHANGE_COLUMNS]
        values[_CREATED] = values[_CREATED] or now_iso()
        values[_RESTORABLE] = int(values[_RESTORABLE])
        cur = self._db.execute(_INSERT_CHANGE, values)
        return cur.lastrowid

    def set_status(self, change_id: int, status: str) -> None:
        """Move a change from ``intended`` to ``applied`` (or ``abandoned``)."""
        self._db.execute("UPDATE file_changes SET status = ? WHERE id = ?", [status, change_id])

    def intended(self, *, tool_call_id: int | None = None, rollback_id: int | None = None
                 ) -> list[FileChange]:
        """Changes still ``intended`` (journaled, not yet settled): of one tool call, or of
        one rollback."""
        column, value = ("tool_call_id", tool_call_id) if tool_call_id is not None else (
            "rollback_id", rollback_id)
        rows = self._db.query(
            f"SELECT * FROM file_changes WHERE {column} = ? AND status = 'intended' ORDER BY id", [value]
        )
        return [FileChange.from_row(r) for r in rows]

    def unsettled(self) -> list[FileChange]:
        """Changes still ``intended`` by a tool call or a rollback still ``running``: what
        a process that died may have been writing when it did."""
        rows = self._db.query(
            "SELECT * FROM file_changes WHERE status = 'intended' AND tool_call_id IN "
            "(SELECT id FROM tool_calls WHERE status = 'running') "
            "UNION SELECT * FROM file_changes WHERE status = 'intended' AND rollback_id IN "
            "(SELECT id FROM rollbacks WHERE status = 'running') ORDER BY id"
        )
        return [FileChange.from_row(r) for r in rows]

    def all(self) -> list[FileChange]:
        """Every change, oldest first."""
        return [FileChange.from_row(r) for r in self._db.query("SELECT * FROM file_changes ORDER BY id")]

    def since(self, change_id: int) -> list[FileChange]:
        """Applied changes with a row id above ``change_id``, oldest first."""
        rows = self._db.query(
            "SELECT * FROM file_changes WHERE id > ? AND status = 'applied' ORDER BY id", [change_id]
        )
        return [FileChange.from_row(r) for r in rows]

    def last_id(self) -> int:
        """The highest change id, 0 when none."""
        return self._db.execute("SELECT coalesce(max(id), 0) FROM file_changes").fetchone()[0]


class Checkpoints:
    """The ``checkpoints`` table: checkpoint N is the state just before prompt N."""

    def __init__(self, db: Db):
        self._db = db

    def create(self, prompt_id: int, last_message_id: int, last_file_change_id: int,
               file_count: int | None = None) -> Checkpoint:
        """Record checkpoint N for prompt N, about to start, with the transcript's and the
        file log's watermarks: what comes after them belongs to prompt N or later."""
        cur = self._db.execute(
            "INSERT INTO checkpoints (prompt_id, last_message_id, last_file_change_id, created_at, "
            "file_count) VALUES (?, ?, ?, ?, ?)",
            [prompt_id, last_message_id, last_file_change_id, now_iso(), file_count],
        )
        return self.get(cur.lastrowid)

    def get(self, checkpoint_id: int) -> Checkpoint:
        """Checkpoint N."""
        rows = list(self._db.query("SELECT * FROM checkpoints WHERE id = ?", [checkpoint_id]))
        if not rows:
            raise KeyError(checkpoint_id)
        return Checkpoint.from_row(rows[0])

    def for_prompt(self, prompt_id: int) -> Checkpoint | None:
        """The checkpoint taken when this prompt started, if any."""
        rows = list(self._db.query("SELECT * FROM checkpoints WHERE prompt_id = ?", [prompt_id]))
        return Checkpoint.from_row(rows[0]) if rows else None

    def all(self) -> list[Checkpoint]:
        """Every checkpoint, in order."""
        return [Checkpoint.from_row(r) for r in self._db.query("SELECT * FROM checkpoints ORDER BY id")]


class Plan:
    """The ``tasks`` table: each ``update_plan`` stores a whole new version of the plan."""

    def __init__(self, db: Db, redactor: Redactor | None = None):
        self._db = db
        self._redact = redactor or Redactor()

    def replace(self, plan_id: int, items: list[PlanItem]) -> None:
        """Store a new version of the plan (``plan_id`` is the tool call that set it)."""
        now = now_iso()
        for position, item in enumerate(items):
            self._db.execute(
                "INSERT INTO tasks (plan_id, position, title, status, created_at) VALUES (?, ?, ?, ?, ?)",
                [plan_id, position, self._redact.text(item.title), item.status, now],
            )

    def current(self) -> list[PlanItem]:
        """The latest version of the plan."""
        rows = self._db.query(
            "SELECT title, status FROM tasks WHERE plan_id = (SELECT max(plan_id) FROM tasks) "
            "ORDER BY position"
        )
        return [PlanItem(**r) for r in rows]


class Grants:
    """The ``approvals`` table: "always allow" answers remembered in the session (a
    pattern holding a secret is stored redacted, so it covers nothing)."""

    def __init__(self, db: Db, redactor: Redactor | None = None):
        self._db = db
        self._redact = redactor or Redactor()
        self._after = 0  # grants up to this id are not used (see ignore_recorded)

    def ignore_recorded(self) -> int:
        """Use none of the grants recorded so far (a session file from elsewhere: its
        "always allow" answers are not the user's); returns how many there were."""
        count = self._db.scalar("SELECT count(*) FROM approvals WHERE id > ?", [self._after]) or 0
        self._after = self._db.scalar("SELECT coalesce(max(id), 0) FROM approvals") or 0
        return count

    def add(self, kind: str, pattern: str = "", tool_call_id: int | None = None) -> None:
        """Remember a grant: ``edits`` (all file edits) or ``command_prefix``."""
        self._db.execute(
            "INSERT INTO approvals (kind, pattern, tool_call_id, created_at) VALUES (?, ?, ?, ?)",
            [kind, self._redact.text(pattern), tool_call_id, now_iso()],
        )

    def all(self) -> list[Grant]:
        """Every grant in use, oldest first."""
        return [Grant(**r) for r in self._db.query(
            "SELECT kind, pattern FROM approvals WHERE id > ? ORDER BY id", [self._after])]
