"""Is a file's schema ours? Every table a reader reads must be the table agentcli made.

A session file is a stranger's input: a ``messages`` that is a recursive VIEW hangs every
reader, a trigger runs on our writes, a generated column computes on reads. Before the
first query, each object the schema expects is compared with what the file holds (type
and SQL, whitespace aside); the file may hold more tables, indexes and views (a person's
own additions, never read by agentcli), but no trigger.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from agentcli.errors import SessionFileError

_CREATE = re.compile(
    r'\s*CREATE\s+(?:TEMP\w*\s+)?(?:UNIQUE\s+|VIRTUAL\s+)?(TABLE|INDEX|VIEW|TRIGGER)\s+'
    r'(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|\[[^\]]+\]|`[^`]+`|[^\s(]+)', re.I)
_LENIENT = ("_sqlite_migrations", "idx__sqlite_migrations_migration_set_name")
"""Made by ``sqlite_utils`` (its DDL may vary with its version): checked by type only."""


def _unquote(name: str) -> str:
    if name[:1] in '"[`':
        return name[1:-1].replace('""', '"') if name[0] == '"' else name[1:-1]
    return name


def parse_create(sql: str) -> tuple[str, str] | None:
    """``(type, name)`` of a CREATE statement (type lower-case), or None."""
    match = _CREATE.match(sql or "")
    return (match.group(1).lower(), _unquote(match.group(2))) if match else None


def normalized(sql: str) -> str:
    """``sql`` with every run of whitespace made one space (SQLite keeps the text as written)."""
    return " ".join((sql or "").split())


def expected_objects(statements: Sequence[str]) -> dict[str, tuple[str, str, str]]:
    """name -> (type, normalized SQL, SQL as written) of a schema's CREATE statements."""
    objects = {}
    for sql in statements:
        parsed = parse_create(sql)
        if parsed is not None:
            objects[parsed[1].lower()] = (parsed[0], normalized(sql), sql)
    return objects


def check_objects(conn: sqlite3.Connection, path: Path, expected: dict[str, tuple[str, str, str]], *,
                  exact: bool) -> None:
    """Refuse a file whose schema is not ``expected``: an expected name of another type or
    (``exact``) other SQL, or a trigger anywhere. ``exact`` False is for an older file,
    checked again once migrated: only types are compared then.

    Raises:
        SessionFileError: one line naming the first object that differs.
    """
    try:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError as err:
        raise SessionFileError(f"{path} is not a readable SQLite file ({err}); it may be corrupt") from None
    for kind, name, sql in rows:
        if not isinstance(name, str) or (sql is None and kind == "index"):
            continue  # SQLite's own index of a UNIQUE or PRIMARY KEY
        want = expected.get(name.lower())
        if want is not None and kind == want[0] and sql == want[2]:
            continue  # exactly as agentcli writes it (the common case: no parsing)
        parsed = parse_create(sql) if isinstance(sql, str) else None
        declared = parsed[0] if parsed else None
        if kind == "trigger" or declared == "trigger":
            raise _foreign(path, f"it holds a trigger ({name}), which agentcli never makes")
        if want is None:
            continue
        if kind != want[0] or declared != want[0]:
            raise _foreign(path, f"{name} is a {declared or kind}, not agentcli's {want[0]}")
        if exact and name not in _LENIENT and normalized(sql) != want[1]:
            raise _foreign(path, f"its {want[0]} {name} is not the one agentcli makes")
    if exact:
        present = {name.lower() for _, name, _ in rows if isinstance(name, str)}
        for name, (kind, _, _) in expected.items():
            if name not in present:
                raise _foreign(path, f"it has no {kind} {name}")


def _foreign(path: Path, why: str) -> SessionFileError:
    return SessionFileError(f"{path} is not a session file as agentcli writes them ({why}); "
                            "it was not read")
