"""A thin connection wrapper: rows as dicts, explicit transactions, one writer at a time.

The session layer's hot paths (appending a message, reading the context) use this
instead of ``sqlite_utils.Database`` so that opening a file stays cheap;
``sqlite_utils`` is imported only to run migrations.

Threads share one connection, so every use of it is serialised by one re-entrant lock,
held for the whole of a transaction: a thread's ``atomic()`` block is never silently
nested into another thread's (its rows would vanish with the other's rollback), and a
statement run outside any block is its own step, even while another thread's block is
open. Whether a block is a transaction or a savepoint depends on the *calling thread's*
depth, never on ``conn.in_transaction``, which another thread may have set.

A reader of a file it did not write can be given a ``step_budget``: a statement that
runs more SQLite steps than that (a file built to hang its readers) is stopped, and the
read fails with one line instead of running for ever.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from agentcli.errors import SessionFileError

PROGRESS_EVERY = 1000
"""SQLite virtual-machine steps between two calls of the progress handler."""
READER_STEPS = 1_000_000_000
"""Steps one reader statement may take (seconds of SQLite work; a whole ``show`` of a
large session takes a few million)."""


class ReadTooLongError(SessionFileError):
    """A statement ran past its ``step_budget``: the file is damaged or built to hang readers."""


class Db:
    """A SQLite connection in autocommit mode with nestable ``atomic()`` blocks.

    Example:
        >>> with db.atomic():
        ...     db.execute("INSERT INTO t (x) VALUES (?)", [1])
    """

    def __init__(self, conn: sqlite3.Connection, *, step_budget: int | None = None, name: str = ""):
        conn.isolation_level = None  # we open transactions ourselves
        self.conn = conn
        self._lock = threading.RLock()
        self._depth = 0  # nesting of atomic() blocks; only the lock's holder touches it
        self._name = name
        self._ticks = 0
        self._max_ticks = None if step_budget is None else max(1, step_budget // PROGRESS_EVERY)
        if self._max_ticks is not None:
            conn.set_progress_handler(self._progress, PROGRESS_EVERY)

    def _progress(self) -> int:
        self._ticks += 1
        return int(self._ticks > (self._max_ticks or 0))

    @contextlib.contextmanager
    def _bounded(self) -> Iterator[None]:
        """One statement's budget, from its start; its overrun becomes ReadTooLongError."""
        self._ticks = 0
        try:
            yield
        except sqlite3.OperationalError:
            if self._max_ticks is not None and self._ticks > self._max_ticks:
                raise ReadTooLongError(
                    f"{self._name or 'the session file'}: a read went on past "
                    f"{self._max_ticks * PROGRESS_EVERY:,} SQLite steps "
                    "and was stopped; the file is damaged or built to hang its readers") from None
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement; outside ``atomic()`` it commits on its own.

        The returned cursor is already executed: read ``lastrowid``, ``rowcount`` or
        ``fetchone()`` from it at once (a long read goes through :meth:`query`).
        """
        with self._lock, self._bounded():
            return self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""
        with self._lock, self._bounded():
            self.conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        """Run a query and yield each row as a dict (read whole under the lock)."""
        with self._lock, self._bounded():
            cursor = self.conn.execute(sql, params)
            try:
                names = [d[0] for d in cursor.description]
                rows = cursor.fetchall()
            finally:  # a statement left open (a row that failed to decode) keeps the file open
                cursor.close()  # after conn.close() on Python 3.12+, with its -wal and -shm
        for values in rows:
            yield dict(zip(names, values))

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first column of the first row, or None."""
        with self._lock, self._bounded():
            row = self.conn.execute(sql, params).fetchone()
        return row[0] if row else None

    @contextlib.contextmanager
    def cursor(self, sql: str, params: Sequence[Any] = ()) -> Iterator[sqlite3.Cursor]:
        """A cursor to read row by row (stopping early is cheap); the lock is held inside."""
        with self._lock, self._bounded():
            cursor = self.conn.execute(sql, params)
            try:
                yield cursor
            finally:
                cursor.close()

    @contextlib.contextmanager
    def atomic(self) -> Iterator[Db]:
        """A transaction (``BEGIN IMMEDIATE``), or a savepoint inside this thread's own."""
        with self._lock:
            if self._depth:
                yield from self._savepoint()
                return
            self.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            else:
                self.conn.execute("COMMIT")
            finally:
                self._depth = 0

    def _savepoint(self) -> Iterator[Db]:
        name = f"sp{self._depth}"
        self.conn.execute(f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield self
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        else:
            self.conn.execute(f"RELEASE {name}")
        finally:
            self._depth -= 1

    def close(self) -> None:
        """Close the connection (waiting for a transaction another thread has open)."""
        with self._lock:
            self.conn.close()
