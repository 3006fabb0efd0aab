"""A thin connection wrapper: rows as dicts, explicit transactions, nothing else.

The session layer's hot paths (appending a message, reading the context) use this
instead of ``sqlite_utils.Database`` so that opening a file stays cheap;
``sqlite_utils`` is imported only to run migrations.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

_savepoints = itertools.count()


class Db:
    """A SQLite connection in autocommit mode with nestable ``atomic()`` blocks.

    Example:
        >>> with db.atomic():
        ...     db.execute("INSERT INTO t (x) VALUES (?)", [1])
    """

    def __init__(self, conn: sqlite3.Connection):
        conn.isolation_level = None  # we open transactions ourselves
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement; outside ``atomic()`` it commits on its own."""
        return self.conn.execute(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        """Run a query and yield each row as a dict."""
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        for values in cursor:
            yield dict(zip(names, values))

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None."""
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Db]:
        """A transaction (``BEGIN IMMEDIATE``), or a savepoint when one is open."""
        if self.conn.in_transaction:
            name = f"sp{next(_savepoints)}"
            self.conn.execute(f"SAVEPOINT {name}")
            try:
                yield self
            except BaseException:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
                raise
            self.conn.execute(f"RELEASE {name}")
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
