"""Open one SQLite file as a durable object: WAL, migrations, single writer, blobs.

The file is created 0600 in a folder created 0700. Before anything is written the
file is checked: a blank, foreign, corrupt or damaged file, or one from a newer
program, is refused untouched, with no ``-wal``, ``-shm`` or ``.lock`` file left
beside it; a file this process may not write is read without any (``immutable``).
Its schema must be the one this program writes (:mod:`agentcli.store.objects`: no VIEW
where a table belongs, no trigger), and a reader's statements run within a step budget.
Migrations are numbered; each one and its record commit in one transaction
(``sqlite_utils.Migrations``) and advance ``PRAGMA user_version``. A new file is given
the current schema from a snapshot of it instead, in one transaction (``sqlite_utils``
is only imported to migrate an older file: it costs ~60 ms of a start).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import sqlite3
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from agentcli.errors import SessionFileError, SessionNotFoundError
from agentcli.store.blobs import BLOBS_TABLE_SQL, BlobStore
from agentcli.store.db import READER_STEPS, Db
from agentcli.store.lock import WriterLock
from agentcli.store.objects import check_objects, expected_objects
from agentcli.store.owned import OTHERS_WRITE

# A migration gets a ``sqlite_utils.Database`` (typed loosely: imported lazily).
MigrationFn = Callable[[Any], None]
MIGRATIONS_TABLE = "_sqlite_migrations"  # where sqlite_utils.Migrations records what it applied


class Schema:
    """An ordered list of migrations plus the ``application_id`` that marks our files.

    Example:
        >>> schema = Schema("agentcli", application_id=0x41474E54, label="agentcli session")
        >>> @schema.migration
        ... def m002_messages(db): db.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY)")
    """

    def __init__(self, name: str, *, application_id: int, label: str, noun: str = "session"):
        self.name = name
        self.application_id = application_id
        self.label = label
        self.noun = noun  # what a busy file is called in messages: "session ID is busy"
        self._steps: list[tuple[str, MigrationFn]] = []
        self._snapshot: tuple[int, Sequence[str]] = (0, ())
        self._expected: dict[str, tuple[str, str, str]] | None = None
        self.migration(_m001_blobs)

    def migration(self, fn: MigrationFn) -> MigrationFn:
        """Register the next migration (its number is its position, from 1)."""
        self._steps.append((fn.__name__, fn))
        return fn

    @property
    def version(self) -> int:
        """The schema version this program writes: the number of migrations."""
        return len(self._steps)

    def snapshot(self, version: int, statements: Sequence[str]) -> None:
        """Create new files from ``statements``: the whole schema at ``version`` as
        :func:`schema_statements` reads it from a file built by the migrations.

        Used only while ``version`` is the current one: a migration added since makes
        :meth:`create` run the migrations again until the snapshot is regenerated.
        """
        self._snapshot = (version, tuple(statements))
        self._expected = None

    def check_objects(self, conn: sqlite3.Connection, path: Path, version: int) -> None:
        """Refuse a file whose tables are not this schema's (:mod:`agentcli.store.objects`):
        exactly, at the current version; by type, for an older file about to be migrated."""
        snapshot_version, statements = self._snapshot
        if self._expected is None:
            self._expected = expected_objects(statements) if snapshot_version == self.version else {}
        check_objects(conn, path, self._expected, exact=version == self.version and bool(self._expected))

    def create(self, conn: sqlite3.Connection) -> None:
        """Give a blank file the current schema and the migration records
        :meth:`apply` would leave, in one transaction (from the snapshot when it is current)."""
        version, statements = self._snapshot
        if version != self.version:
            self.apply(conn)
            return
        applied_at = str(datetime.datetime.now(datetime.timezone.utc))  # as sqlite_utils writes it
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                conn.execute(statement)
            conn.executemany(f"INSERT INTO {MIGRATIONS_TABLE} (migration_set, name, applied_at) "
                             "VALUES (?, ?, ?)", [(self.name, name, applied_at) for name, _ in self._steps])
            conn.execute(f"PRAGMA user_version = {self.version}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def apply(self, conn: sqlite3.Connection) -> None:
        """Apply pending migrations, each in one transaction with its user_version."""
        from sqlite_utils import Database, Migrations

        db = Database(conn, execute_plugins=False)
        migrations = Migrations(self.name)
        for number, (name, fn) in enumerate(self._steps, start=1):
            migrations(name=name)(_versioned(fn, number))
        migrations.apply(db)


def _versioned(fn: MigrationFn, number: int) -> MigrationFn:
    def step(db: Any) -> None:
        fn(db)
        db.conn.execute(f"PRAGMA user_version = {number}")

    return step


def _m001_blobs(db: Any) -> None:
    db.execute(BLOBS_TABLE_SQL)


def schema_statements(conn: sqlite3.Connection) -> list[str]:
    """The statements that rebuild a file's schema: every CREATE SQLite recorded, in its
    order (without the indexes and tables SQLite makes by itself)."""
    return [row[0] for row in conn.execute(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite~_%' ESCAPE '~' "
        "ORDER BY rowid")]


class DurableFile:
    """One open SQLite file. ``writer=True`` holds the single-writer lock."""

    def __init__(self, path: Path, db: Db, lock: WriterLock | None):
        self.path = path
        self.db = db
        self.lock = lock
        self.blobs = BlobStore(db)

    @classmethod
    def create(cls, path: Path, schema: Schema, fill: Callable[[DurableFile], None] | None = None,
               step: Callable[[str], None] | None = None) -> DurableFile:
        """Create a new file (never overwriting one) and open it as the writer.

        The file appears complete or not at all: it is built under a hidden temporary
        name in the same folder (schema, then ``fill``'s rows in one transaction),
        fsynced, and only then linked to ``path``. A process killed at any moment leaves
        no file at ``path`` or a whole one; the temporary name never ends in
        ``.sqlite``, so no listing shows it. ``step`` is called with the name of each
        stage (the crash tests' failpoints).

        Raises:
            SessionFileError: ``path`` exists, or the folder is not writable.
        """
        step = step or _no_step
        return cls._made(path, schema, lambda tmp: _build(
            tmp, path, schema, lambda db: fill(cls(tmp, db, None)) if fill else None, step), step)

    @classmethod
    def copy(cls, source: Path, path: Path, schema: Schema, change: Callable[[DurableFile], None],
             step: Callable[[str], None] | None = None) -> DurableFile:
        """Create ``path`` holding ``source``'s rows as they are now, changed by ``change`` (given
        the copy, in one transaction) in the same step, and open it as the writer (a fork).

        ``source`` is only read, as ``agentcli show`` reads it (a consistent snapshot, while
        another process drives it too): never locked, never migrated — a file of an older
        schema is migrated in the copy. The copy appears whole or not at all, as
        :meth:`create` makes files.

        Raises:
            SessionNotFoundError: no ``source``.
            SessionFileError: ``source`` is not a whole session of ours, or ``path`` exists.
        """
        step = step or _no_step
        return cls._made(path, schema, lambda tmp: _build_copy(
            source, tmp, path, schema, lambda db: change(cls(tmp, db, None))), step)

    @classmethod
    def _made(cls, path: Path, schema: Schema, build: Callable[[Path], None],
              step: Callable[[str], None]) -> DurableFile:
        """Build a new file under a hidden temporary name, then give it ``path`` and open it
        as the writer, the lock held from before it is visible."""
        ensure_private_dir(path.parent)
        if os.path.lexists(path):
            raise SessionFileError(f"{path} already exists")
        lock = WriterLock(lock_path(path))  # held from before the file is visible
        lock.acquire(f"{schema.noun} {path.stem}")
        tmp = path.with_name(f".{path.name}.{os.getpid()}{BUILDING}")
        try:
            build(tmp)
            step("store.create.built")
            _publish(tmp, path)
            step("store.create.visible")
            return cls._open_locked(path, schema, writer=True, lock=lock)
        except BaseException:
            if not os.path.lexists(path):  # ours alone: the id was never visible
                lock_path(path).unlink(missing_ok=True)
            lock.release()
            for leftover in (tmp, tmp.with_name(tmp.name + "-journal")):
                leftover.unlink(missing_ok=True)
            raise

    @classmethod
    def open(cls, path: Path, schema: Schema, *, writer: bool,
             check: Callable[[Db], None] | None = None) -> DurableFile:
        """Open an existing file; migrate it if it is older and we may write.

        Nothing is written, and no companion file (``-wal``, ``-shm``, ``.lock``) is
        left, unless the file proves to be ours and whole: its header is read as plain
        bytes before SQLite sees it, a file we may not write is read without companions
        (``immutable``) and refused to a writer, and a writer checks the file page by
        page (``blobs`` aside: they are checked by hash when read) and runs ``check``
        (the layer above's own reads) before it takes the lock or writes anything.

        Raises:
            SessionNotFoundError: no such file.
            SessionFileError: blank, corrupt, foreign, damaged, written by a newer
                program, or (``writer``) read-only.
            SessionBusyError: ``writer`` and another process holds the lock.
        """
        if not path.is_file():
            raise SessionNotFoundError(f"no session file at {path}")
        _check_header(path, schema)
        read_only = _why_read_only(path)
        if read_only is not None:
            why, remedy = read_only
            if writer:
                raise SessionFileError(f"{path} {why}: {remedy} to change it")
            return cls._open_read_only(path, schema, why=why, remedy=remedy)
        conn = _connect(path)
        lock = None
        try:
            _check_identity(conn, path, schema)
            if writer:
                _check_pages(conn, path)
                if check is not None:
                    check(Db(conn))
                lock = WriterLock(lock_path(path))
                lock.acquire(f"{schema.noun} {path.stem}")
            return cls._ready(conn, path, schema, writer=writer, lock=lock)
        except BaseException:
            _abandon(conn, lock)
            raise

    @classmethod
    def _open_read_only(cls, path: Path, schema: Schema, *, why: str, remedy: str) -> DurableFile:
        """A reader of a file it may not write: SQLite must create nothing beside it."""
        real = path.resolve()
        wal, shm = (real.with_name(real.name + extra) for extra in ("-wal", "-shm"))
        if not wal.exists():
            conn = _connect(path, "?immutable=1")  # no log to read: the file alone is the session
        elif shm.exists():
            conn = _connect(path, "?mode=ro")  # both companions are there already
        else:
            raise SessionFileError(f"{path} {why} and its write-ahead log {wal.name} was never merged: "
                                   f"{remedy} to read it")
        try:
            version = _check_identity(conn, path, schema)
            if version < schema.version:
                raise SessionFileError(f"{path} {why} and from an older agentcli (schema {version}): "
                                       f"{remedy} so it can be upgraded")
        except BaseException:
            conn.close()
            raise
        return cls(path, Db(conn, step_budget=READER_STEPS, name=str(path)), None)

    @classmethod
    def _open_locked(cls, path: Path, schema: Schema, *, writer: bool,
                     lock: WriterLock | None) -> DurableFile:
        conn = _connect(path)
        try:
            return cls._ready(conn, path, schema, writer=writer, lock=lock)
        except BaseException:
            _abandon(conn, lock)
            raise

    @classmethod
    def _ready(cls, conn: sqlite3.Connection, path: Path, schema: Schema, *, writer: bool,
               lock: WriterLock | None) -> DurableFile:
        """Migrate an older file (a reader only while nobody drives it) and switch WAL on."""
        version = _check_identity(conn, path, schema, objects=False)  # again: now we may hold the lock
        if version < schema.version:
            if not writer:
                with WriterLock(lock_path(path)) as migrating:
                    migrating.acquire(f"{schema.noun} {path.stem}")
                    _apply_pragmas(conn)
                    schema.apply(conn)
            else:
                _apply_pragmas(conn)
                schema.apply(conn)
            schema.check_objects(conn, path, schema.version)  # what the migrations left, exactly
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            _apply_pragmas(conn)
        return cls(path, Db(conn, step_budget=None if writer else READER_STEPS, name=str(path)), lock)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Db]:
        """One atomic, durable step: everything inside commits together or not at all."""
        with self.db.atomic():
            yield self.db

    def close(self) -> None:
        """Close the connection and release the lock."""
        self.db.close()
        if self.lock is not None:
            self.lock.release()


def _abandon(conn: sqlite3.Connection, lock: WriterLock | None) -> None:
    """An open that failed half-way: close the connection and let the lock go."""
    conn.close()
    if lock is not None:
        lock.release()


def lock_path(path: Path) -> Path:
    """The lock file beside a durable file."""
    return path.with_name(path.name + ".lock")


@contextlib.contextmanager
def damage_as_error(path: Path) -> Iterator[None]:
    """Turn SQLite's "malformed" or "not a database" met mid-read into a SessionFileError.

    The checks on open read only the file's header and schema; a page damaged deeper
    in the file shows up when a query reaches it.
    """
    try:
        yield
    except sqlite3.DatabaseError as err:
        name = getattr(err, "sqlite_errorname", "")  # Python 3.11+; the text otherwise
        damaged = name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or (
            not name and ("malformed" in str(err) or "not a database" in str(err))
        )
        if "Could not decode to UTF-8" in str(err):  # raised by Python's sqlite3 itself
            raise SessionFileError(f"{path} is damaged (a text value is not valid UTF-8); "
                                   "it may be corrupt") from None
        if not damaged:
            raise
        raise SessionFileError(f"{path} is damaged ({err}); it may be corrupt") from None


def ensure_private_dir(folder: Path) -> None:
    """Create ``folder`` 0700 when absent; raise one clear line when unusable."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise SessionFileError(f"cannot create the sessions folder {folder}: {err.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SessionFileError(
            f"the sessions folder {folder} is not writable (fix its permissions or pass --sessions-dir)"
        )


BUILDING = ".creating"  # suffix of a session file still being built (never listed)


def _no_step(_name: str) -> None:
    pass


def _build(tmp: Path, path: Path, schema: Schema, fill: Callable[[Db], object],
           step: Callable[[str], None]) -> None:
    """Write the whole new file at ``tmp``: identity, schema, then ``fill``'s rows in one
    transaction; closed and fsynced (a rollback journal while building: no WAL beside
    a name that is about to change)."""
    conn = _new_file(tmp, path)
    try:
        conn.execute(f"PRAGMA application_id = {schema.application_id}")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA temp_store = MEMORY")
        schema.create(conn)
        step("store.create.schema")
        db = Db(conn)  # before the transaction: making it commits what is pending
        with db.atomic():
            fill(db)
    finally:
        conn.close()
    _fsync(tmp)


def _build_copy(source: Path, tmp: Path, path: Path, schema: Schema, change: Callable[[Db], None]) -> None:
    """Write at ``tmp`` a snapshot of ``source`` (migrated when older), changed by ``change``
    in one transaction; closed and fsynced. ``source`` is read by a connection that writes
    nothing (a reader's, or one without companions for a file we may not write)."""
    reader = _reading_connection(source, schema)
    try:
        conn = _new_file(tmp, path)
        try:
            with damage_as_error(source):
                reader.backup(conn)
            conn.execute("PRAGMA journal_mode = DELETE")  # a rollback journal while building
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA secure_delete = ON")  # what the change cuts leaves no trace
            conn.execute("PRAGMA temp_store = MEMORY")
            if conn.execute("PRAGMA user_version").fetchone()[0] < schema.version:
                schema.apply(conn)
            schema.check_objects(conn, tmp, schema.version)
            db = Db(conn)
            with db.atomic():
                change(db)
        finally:
            conn.close()
    finally:
        reader.close()
    _fsync(tmp)


def _reading_connection(path: Path, schema: Schema) -> sqlite3.Connection:
    """A connection that reads ``path`` and writes nothing to it, checked to be one of ours."""
    if not path.is_file():
        raise SessionNotFoundError(f"no session file at {path}")
    _check_header(path, schema)
    if _why_read_only(path) is None:
        conn = _connect(path)
    else:
        real = path.resolve()
        wal, shm = (real.with_name(real.name + extra) for extra in ("-wal", "-shm"))
        if wal.exists() and not shm.exists():
            raise SessionFileError(f"{path} is read-only and its write-ahead log {wal.name} was never "
                                   "merged: make it writable to read it")
        conn = _connect(path, "?mode=ro" if wal.exists() else "?immutable=1")
    try:
        _check_identity(conn, path, schema)
    except BaseException:
        conn.close()
        raise
    return conn


def _new_file(tmp: Path, path: Path) -> sqlite3.Connection:
    """A connection to a new, empty file at ``tmp`` (0600; never one that exists), the
    temporary name of ``path``."""
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as err:
        raise SessionFileError(f"cannot create {path}: {err.strerror} "
                               "(check the sessions folder's permissions)") from None
    os.close(fd)
    return _connect(tmp)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish(tmp: Path, path: Path) -> None:
    """Give the finished file its name in one step, never replacing an existing file."""
    try:
        os.link(tmp, path)  # fails if path exists, unlike rename
    except FileExistsError:
        raise SessionFileError(f"{path} already exists") from None
    except OSError:  # a file system without hard links: rename, checked just before
        if os.path.lexists(path):
            raise SessionFileError(f"{path} already exists") from None
        os.rename(tmp, path)
    else:
        os.unlink(tmp)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    except OSError:  # some file systems cannot fsync a folder; the link still happened
        pass
    finally:
        os.close(folder)


def _connect(path: Path, query: str = "?mode=rw") -> sqlite3.Connection:
    try:
        uri = path.resolve().as_uri() + query
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10)
    except sqlite3.Error as err:
        raise SessionFileError(f"cannot open {path}: {err}") from None
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _apply_pragmas(conn: sqlite3.Connection) -> None:
    # WAL lets readers (list, show --follow) work beside the writer; FULL makes a
    # committed step survive power loss too, not only a killed process.
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    # No earlier version of a cell lingers in a free page or a freed part of one, and no
    # sort or index build spills into a temporary file (sessions/README.md, "Secrets").
    conn.execute("PRAGMA secure_delete = ON")
    conn.execute("PRAGMA temp_store = MEMORY")


SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_header(path: Path, schema: Schema) -> None:
    """Refuse a file that is not ours from its first 100 bytes, read as a plain file: no
    SQLite connection yet, so nothing (not even a ``-wal``) appears beside a stranger's
    file. The connection checks again: a newer ``user_version`` may sit in the log."""
    try:
        with path.open("rb") as file:
            header = file.read(100)
    except OSError as err:
        raise SessionFileError(f"cannot read {path}: {err.strerror or err}") from None
    if not header:
        raise SessionFileError(f"{path} is empty: not an agentcli session (sessions are created whole)")
    if not header.startswith(SQLITE_MAGIC) or len(header) < 100:
        raise SessionFileError(f"{path} is not a readable SQLite file (wrong header); it may be corrupt")
    if int.from_bytes(header[68:72], "big") != schema.application_id:
        raise SessionFileError(f"{path} is a SQLite file but not an {schema.label}")
    version = int.from_bytes(header[60:64], "big")
    if version > schema.version:
        raise SessionFileError(_newer(path, version, schema))


def _why_read_only(path: Path) -> tuple[str, str] | None:
    """None when this process may write ``path`` and create files beside it; else why
    not and what to do (a phrase that goes before "to change it").

    The permission bits count even for root: a session file someone made 0400 is not
    written behind their back. A file of another user, or one others may write, or one
    in a folder others may write (where a ``-wal`` link could be waiting), is read as if
    it were read-only, and never written: like git's ``safe.directory``."""
    real = path.resolve()
    st = real.stat()
    if st.st_uid != os.geteuid():
        return f"belongs to another user (uid {st.st_uid})", "copy it into a folder of your own"
    if st.st_mode & OTHERS_WRITE:
        return (f"is writable by other users (mode {stat.S_IMODE(st.st_mode):04o})",
                "make it writable by you alone (chmod go-w)")
    if not (os.access(real, os.W_OK) and st.st_mode & 0o222):
        return "is read-only", "make it writable (chmod u+w)"
    folder = real.parent
    folder_st = folder.stat()
    if folder_st.st_mode & OTHERS_WRITE or folder_st.st_uid not in (os.geteuid(), 0):
        return (f"is in a folder other users can write ({folder})" if folder_st.st_mode & OTHERS_WRITE
                else f"is in a folder of another user ({folder})"), "move it into a folder of your own"
    if not (os.access(folder, os.W_OK | os.X_OK) and folder_st.st_mode & 0o222):
        return f"is in a read-only folder ({folder})", "make it writable (chmod u+w)"
    return None


def _check_pages(conn: sqlite3.Connection, path: Path) -> None:
    """Walk every table's root page and both edges (its first and last rows) before the
    first write, in time that does not grow with the session: a file whose copy was cut
    short, or whose table pages were overwritten, is refused untouched. (A whole
    ``PRAGMA quick_check`` reads every page: ~20 ms at 10,000 messages, and seconds for a
    large file not in the page cache.) A table without rowids (the tracker's file states,
    read whole at each checkpoint anyway) is checked whole. A page damaged deep inside a
    table is found by SQLite when it is read, and reported as damaged then.
    """
    try:
        tables = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
        problems = []
        for name, sql in tables:
            quoted = '"' + name.replace('"', '""') + '"'
            if "WITHOUT ROWID" in (sql or "").upper():
                problems += [row[0] for row in conn.execute("SELECT * FROM pragma_quick_check(?)", [name])]
            else:
                for order in ("", " DESC"):  # the rowid alone: no large value is read
                    conn.execute(f"SELECT rowid FROM {quoted} ORDER BY rowid{order} LIMIT 1").fetchall()
    except sqlite3.DatabaseError as err:
        raise SessionFileError(f"{path} is damaged ({err}); it may be corrupt") from None
    problems = [p for p in problems if p != "ok"]
    if problems:
        raise SessionFileError(f"{path} is damaged ({problems[0]}); it may be corrupt")


def _newer(path: Path, version: int, schema: Schema) -> str:
    return (f"{path} was written by a newer agentcli (schema {version}; this one knows up to "
            f"{schema.version}); upgrade agentcli to open it")


def _check_identity(conn: sqlite3.Connection, path: Path, schema: Schema, *, objects: bool = True) -> int:
    """Read-only checks before any write; returns the file's schema version. ``objects``:
    also that its schema is this one's (once per connection: a migration checks again)."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as err:
        raise SessionFileError(f"{path} is not a readable SQLite file ({err}); it may be corrupt") from None
    if app_id != schema.application_id:
        raise SessionFileError(f"{path} is a SQLite file but not an {schema.label}")
    if version > schema.version:
        raise SessionFileError(_newer(path, version, schema))
    if version == 0:
        raise SessionFileError(f"{path} is empty: not an agentcli session (sessions are created whole)")
    if objects:
        schema.check_objects(conn, path, version)
    return version
