"""A coding session: one durable file and the operations on its tables."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agentcli import __version__
from agentcli.errors import SessionFileError
from agentcli.session.compactions import Compactions
from agentcli.session.files import Checkpoints, FileLog, Grants, Plan
from agentcli.session.journal import AuditLog, ToolJournal
from agentcli.session.mcp_tools import McpToolLists
from agentcli.session.records import ORCHESTRATOR, Prompt, SessionMeta, now_iso
from agentcli.session.redaction import Redactor
from agentcli.session.rollbacks import Rollbacks
from agentcli.session.schema import SCHEMA
from agentcli.session.scouts import Scouts
from agentcli.session.snapshots import Snapshots
from agentcli.session.transcript import Prompts, Transcript
from agentcli.store.db import Db
from agentcli.store.durable import DurableFile, damage_as_error


class Session:
    """One session file, open for reading or as its single writer.

    Each table has its own small object (``session.transcript``,
    ``session.tool_calls``, ...). Every operation commits on its own unless it runs
    inside ``with session.transaction():``, which makes a step atomic.

    Example:
        >>> with Session.open(path, writer=False) as session:
        ...     print(session.meta().title)
    """

    def __init__(self, store: DurableFile):
        self.store = store
        self.path = store.path
        db: Db = store.db
        self.db = db
        self.blobs = store.blobs
        self.redactor = Redactor()  # the interface tells it the run's secrets (redact_secrets)
        self.prompts = Prompts(db, self.redactor)
        self.transcript = Transcript(db, self.redactor)
        self.tool_calls = ToolJournal(db, self.redactor)
        self.model_calls = AuditLog(db, self.redactor, store.blobs)
        self.files = FileLog(db)
        self.checkpoints = Checkpoints(db)
        self.plan = Plan(db, self.redactor)
        self.grants = Grants(db, self.redactor)
        self.snapshots = Snapshots(db)
        self.rollbacks = Rollbacks(db)
        self.scouts = Scouts(db, self.redactor)
        self.compactions = Compactions(db, self.redactor)
        self.mcp_tools = McpToolLists(db, store.blobs)
        self._closing: list[Callable[[], None]] = []

    @classmethod
    def create(
        cls,
        path: Path,
        *,
        workspace_root: Path,
        title: str = "",
        model: str | None = None,
        endpoint_host: str | None = None,
        settings: dict[str, Any] | None = None,
        system: str | None = None,
        prompt: str | None = None,
        prompt_source: str = "argument",
        step: Callable[[str], None] | None = None,
        secrets: list[str] | None = None,
    ) -> Session:
        """Create a new session file (as its writer): schema, ``meta`` row, and optionally
        the system message and the first prompt, in one atomic step — a kill at any
        moment leaves no file or one ``resume`` can finish. ``step`` names each stage
        (the crash tests' failpoints). ``secrets`` are redacted from the first write on
        (the file never holds them, not even in a page it no longer uses)."""
        mark = step or (lambda _name: None)

        def fill(store: DurableFile) -> None:
            session = cls(store)
            session.redact_secrets(secrets or [])
            redact = session.redactor.text
            now = now_iso()
            session.db.execute(
                "INSERT INTO meta (id, title, workspace_root, created_at, updated_at, model, "
                "endpoint_host, status, schema_version, agentcli_version, settings) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'idle', ?, ?, ?)",
                [path.stem, redact(title), str(workspace_root), now, now, model and redact(model),
                 endpoint_host, SCHEMA.version, __version__,
                 json.dumps(session.redactor.data(settings or {}))],
            )
            mark("session.create.meta")
            if system is not None:
                session.transcript.append("system", system, agent=ORCHESTRATOR)
            if prompt is not None:
                session.add_prompt(prompt, source=prompt_source)
            mark("session.create.filled")

        return cls(DurableFile.create(path, SCHEMA, fill, step))

    @classmethod
    def fork(cls, parent: Path, path: Path, make: Callable[[Session], None],
             step: Callable[[str], None] | None = None) -> Session:
        """Create ``path`` as a copy of the session file ``parent``, changed by ``make`` (which
        gets the copy, complete, inside the one transaction that creates it: it cuts and
        relabels it, ``session/fork.py``), and open it as its writer. ``parent`` is only read,
        as ``agentcli show`` reads it; the fork appears whole or not at all."""
        return cls(DurableFile.copy(parent, path, SCHEMA, lambda store: make(cls(store)), step))

    @classmethod
    def open(cls, path: Path, *, writer: bool) -> Session:
        """Open an existing session file; ``writer`` takes the single-writer lock.

        A writer reads the ``meta`` row before its first write: a file whose row is
        missing or undecodable is refused as it is (SessionFileError), never half updated.
        """
        session = cls(DurableFile.open(path, SCHEMA, writer=writer, check=lambda db: _read_meta(db, path)))
        if writer:
            session.db.execute(
                "UPDATE meta SET schema_version = ?, agentcli_version = ?", [SCHEMA.version, __version__]
            )
        return session

    def redact_secrets(self, secrets: list[str]) -> None:
        """Never store these values: from now on they are written as ``***``."""
        self.redactor.set(secrets)

    @property
    def id(self) -> str:
        """The session id (the file's name without ``.sqlite``)."""
        return self.path.stem

    def meta(self) -> SessionMeta:
        """The session's ``meta`` row."""
        return _read_meta(self.db, self.path)

    def update_meta(self, **fields: Any) -> None:
        """Change ``meta`` columns (``settings`` as a dict); ``updated_at`` follows. Text is
        redacted before it is written."""
        fields = {name: self.redactor.text(value) if isinstance(value, str) else value
                  for name, value in fields.items()}
        if "settings" in fields:
            fields["settings"] = json.dumps(self.redactor.data(fields["settings"]))
        fields["updated_at"] = now_iso()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        self.db.execute(f"UPDATE meta SET {assignments}", list(fields.values()))

    def add_prompt(self, text: str, source: str = "argument") -> Prompt:
        """Queue a user prompt; the first one also names the session (its title)."""
        with self.transaction():
            prompt = self.prompts.add(text, source)
            if not self.meta().title:
                self.update_meta(title=title_from(self.redactor.text(text)))  # redacted before it is cut
        return prompt

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """Make the operations inside one atomic, durable step."""
        with self.store.transaction():
            yield self

    def closing(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the session closes, before the file does (newest first): for
        what lives as long as the session, such as the processes of its MCP servers."""
        self._closing.append(callback)

    def close(self) -> None:
        """Stop what lives as long as the session, then close the file and release the lock."""
        try:
            while self._closing:
                self._closing.pop()()
        finally:
            self.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_meta(db: Db, path: Path) -> SessionMeta:
    """The ``meta`` row; SessionFileError when it is missing, damaged or not UTF-8."""
    with damage_as_error(path):
        row = next(db.query("SELECT * FROM meta"), None)
    if row is None:
        raise SessionFileError(f"{path} has no meta row: not a complete agentcli session")
    return SessionMeta.from_row(row)


TITLE_CHARS = 80


def title_from(prompt: str) -> str:
    """A session title: the prompt's first non-empty line, cut to 80 characters."""
    lines = [line.strip() for line in prompt.strip().splitlines() if line.strip()]
    first = lines[0] if lines else ""
    return first if len(first) <= TITLE_CHARS else first[: TITLE_CHARS - 1] + "…"
