"""The durable-object layer: WAL, permissions, blobs, the writer lock, refusals, migrations."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from session_factory import make_session, run_main, writer_process

from agentcli.errors import SessionBusyError, SessionFileError
from agentcli.session import schema_snapshot, schema_writer
from agentcli.session.directory import SessionDirectory
from agentcli.session.records import PlanItem
from agentcli.session.schema import APPLICATION_ID, SCHEMA
from agentcli.session.session import Session
from agentcli.store.durable import MIGRATIONS_TABLE, DurableFile, Schema, lock_path

FIXTURES = Path(__file__).parent / "fixtures"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pragma(path: Path, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    opened = SessionDirectory(tmp_path / "sessions").create(workspace_root=tmp_path, title="t")
    yield opened
    opened.close()


def test_file_is_wal_and_private_in_a_private_ignored_folder(tmp_path: Path, session: Session) -> None:
    folder = tmp_path / "sessions"
    assert pragma(session.path, "journal_mode") == "wal"
    assert stat.S_IMODE(session.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(lock_path(session.path).stat().st_mode) == 0o600
    assert (folder / ".gitignore").read_text().split() == ["*"]


@pytest.mark.parametrize(
    "data",
    [b"", b"tiny", bytes(range(256)) * 40, b"compress me " * 5000, os.urandom(50_000)],
    ids=["empty", "tiny", "binary", "compressible", "incompressible"],
)
def test_blobs_round_trip(session: Session, data: bytes) -> None:
    digest_ = session.blobs.put(data)
    assert digest_ == hashlib.sha256(data).hexdigest()
    assert session.blobs.get(digest_) == data


def test_blobs_are_stored_once_and_compressed_only_when_it_pays(session: Session) -> None:
    text, noise = b"compress me " * 5000, os.urandom(50_000)
    first = session.blobs.put(text)
    assert session.blobs.put(text) == first
    session.blobs.put(noise)
    rows = dict(session.db.execute("SELECT hash, compression FROM blobs").fetchall())
    assert len(rows) == 2
    assert rows[first] == "zlib"
    assert rows[hashlib.sha256(noise).hexdigest()] == "none"
    stored = session.db.scalar("SELECT length(data) FROM blobs WHERE hash = ?", [first])
    assert stored < len(text) / 10
    with pytest.raises(KeyError):
        session.blobs.get("0" * 64)


def test_second_writer_in_another_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = make_session(tmp_path / "sessions", tmp_path)
    with writer_process(path) as holder:
        with pytest.raises(SessionBusyError) as err:
            Session.open(path, writer=True)
    assert f"pid {holder.pid}" in str(err.value)
    assert err.value.exit_code == 4


def test_lock_dies_with_a_killed_holder(tmp_path: Path) -> None:
    path = make_session(tmp_path / "sessions", tmp_path)
    with writer_process(path) as holder:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        with Session.open(path, writer=True) as session:  # at once: no stale lock
            assert session.meta().title


def test_reader_works_while_a_writer_holds_the_lock_mid_transaction(tmp_path: Path) -> None:
    path = make_session(tmp_path / "sessions", tmp_path)
    with writer_process(path, "--open-transaction"):
        with Session.open(path, writer=False) as reader:
            assert reader.meta().title == "fix the failing test"
            contents = [m.content for m in reader.transcript.all()]
    assert "not committed" not in contents
    assert len(contents) == 5


def test_transaction_is_all_or_nothing(session: Session) -> None:
    before = session.transcript.count()
    with pytest.raises(RuntimeError):
        with session.transaction():
            message = session.transcript.append("assistant", "half a step", tool_calls=[{"id": "c"}],
                                                agent="orchestrator")
            session.tool_calls.begin(message_id=message.id, position=0, call_id="c", name="x",
                                     arguments="{}", prompt_id=None, agent="orchestrator")
            session.plan.replace(1, [PlanItem("p", "pending")])
            raise RuntimeError("crash inside the step")
    assert session.transcript.count() == before
    assert session.tool_calls.all() == []
    assert session.plan.current() == []
    with session.transaction():
        session.transcript.append("user", "a whole step", agent="orchestrator")
    assert session.transcript.count() == before + 1


def _close_with_version(path: Path, version: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("writer", [True, False])
def test_newer_schema_is_refused_untouched(tmp_path: Path, writer: bool) -> None:
    path = make_session(tmp_path / "sessions", tmp_path)
    _close_with_version(path, SCHEMA.version + 7)
    before = digest(path)
    with pytest.raises(SessionFileError, match="newer agentcli"):
        Session.open(path, writer=writer)
    assert digest(path) == before
    assert pragma(path, "user_version") == SCHEMA.version + 7


def test_foreign_sqlite_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.commit()
    conn.close()
    before = digest(path)
    for writer in (True, False):
        with pytest.raises(SessionFileError, match="not an agentcli session"):
            Session.open(path, writer=writer)
    assert digest(path) == before


def test_corrupt_file_is_refused_with_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir()
    path = folder / "0123456789abc.sqlite"
    path.write_bytes(os.urandom(8192))
    before = digest(path)
    with pytest.raises(SessionFileError, match="corrupt"):
        Session.open(path, writer=False)
    code = run_main(["show", "0123", "--sessions-dir", str(folder), "-C", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "corrupt" in err and "Traceback" not in err
    assert digest(path) == before


def test_an_empty_file_is_not_turned_into_a_session_by_a_reader(tmp_path: Path) -> None:
    path = tmp_path / "0123456789abc.sqlite"
    path.touch()
    with pytest.raises(SessionFileError, match="empty"):
        Session.open(path, writer=False)
    assert path.read_bytes() == b""


def test_migrates_a_blank_file_to_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "blank.sqlite"
    DurableFile.create(path, SCHEMA).close()
    assert pragma(path, "user_version") == SCHEMA.version
    assert pragma(path, "application_id") == APPLICATION_ID
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    applied = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    conn.close()
    expected = {"meta", "messages", "tasks", "tool_calls", "model_calls", "file_changes", "checkpoints",
                "blobs", "prompts", "approvals"}
    assert expected <= tables
    assert len(applied) == SCHEMA.version


def test_migrates_a_file_of_an_older_version(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    first_only = Schema("agentcli", application_id=APPLICATION_ID, label="agentcli session")
    DurableFile.create(path, first_only).close()  # version 1: the blobs table only
    assert pragma(path, "user_version") == 1
    DurableFile.open(path, SCHEMA, writer=True).close()
    assert pragma(path, "user_version") == SCHEMA.version


STALE = ("agentcli/session/schema_snapshot.py is not the schema the migrations build: regenerate it "
         "with python -m agentcli.session.schema_writer")


def _migrated(path: Path) -> Path:
    """A blank file brought to the current schema the long way: every migration, by sqlite_utils."""
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    SCHEMA.apply(conn)
    conn.close()
    return path


def _schema_of(path: Path) -> dict[str, object]:
    """All of a file's schema: sqlite_master (where its pages lie aside), the pragmas that
    mark it, and the migration records (their times aside)."""
    conn = sqlite3.connect(path)
    try:
        return {
            "sqlite_master": conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid").fetchall(),
            **{name: conn.execute(f"PRAGMA {name}").fetchone()[0]
               for name in ("user_version", "application_id", "page_size", "auto_vacuum", "encoding")},
            "migrations": conn.execute(
                f"SELECT id, migration_set, name FROM {MIGRATIONS_TABLE} ORDER BY id").fetchall(),
        }
    finally:
        conn.close()


def test_the_schema_snapshot_is_generated_from_the_current_migrations() -> None:
    assert schema_snapshot.VERSION == SCHEMA.version, STALE  # else new files are migrated: slow
    assert Path(schema_snapshot.__file__).read_text() == schema_writer.render(), STALE


def test_a_new_file_has_exactly_the_schema_the_migrations_build(tmp_path: Path) -> None:
    """New files come from the snapshot, in one step: the two ways must never drift."""
    created = tmp_path / "created.sqlite"
    DurableFile.create(created, SCHEMA).close()
    migrated = _migrated(tmp_path / "migrated.sqlite")
    assert _schema_of(created) == _schema_of(migrated), STALE
    conn = sqlite3.connect(created)
    times = [datetime.fromisoformat(t) for t, in conn.execute(f"SELECT applied_at FROM {MIGRATIONS_TABLE}")]
    assert all(t.tzinfo is not None for t in times)  # written as sqlite_utils writes it
    SCHEMA.apply(conn)  # sqlite_utils finds nothing pending
    conn.close()
    assert _schema_of(created) == _schema_of(migrated)


def test_a_snapshot_of_an_older_version_is_not_used(tmp_path: Path) -> None:
    stale = Schema("agentcli", application_id=APPLICATION_ID, label="agentcli session")
    stale.snapshot(0, ["CREATE TABLE wrong (x)"])
    path = tmp_path / "old.sqlite"
    DurableFile.create(path, stale).close()
    assert [row[1] for row in _schema_of(path)["sqlite_master"] if row[0] == "table"] == [  # type: ignore[index]
        MIGRATIONS_TABLE, "blobs"]


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("session-v*.sqlite")), ids=lambda p: p.stem)
@pytest.mark.parametrize("writer", [True, False])
def test_committed_fixture_opens_reads_and_migrates(tmp_path: Path, fixture: Path, writer: bool) -> None:
    version = int(fixture.stem.removeprefix("session-v"))
    committed = digest(fixture)
    path = tmp_path / "sessions" / "0123456789abc.sqlite"
    path.parent.mkdir()
    shutil.copyfile(fixture, path)
    assert pragma(path, "user_version") == version
    with Session.open(path, writer=writer) as session:
        meta = session.meta()
        assert meta.title == "fixture session"
        assert [m.role for m in session.transcript.all()] == ["system", "user", "assistant", "tool"]
        assert [c.status for c in session.tool_calls.all()] == ["done"]
        calls = session.model_calls.all()
        assert [c.status for c in calls] == ["error", "ok"]
        assert calls[1].total_tokens == 60
        change = session.files.all()[0]
        assert session.blobs.get(change.after_hash) == b"print('fixed')\n" * 20
        assert [i.title for i in session.plan.current()] == ["read hello.py", "fix it"]
    assert pragma(path, "user_version") == SCHEMA.version
    assert digest(fixture) == committed


def test_tail_reads_the_newest_live_rows_back_to_a_budget_and_says_if_it_reached_the_start(
        session: Session) -> None:
    transcript = session.transcript
    transcript.append("system", "rules", agent="orchestrator")
    for n in range(6):
        transcript.append("user", f"question {n}", prompt_id=None, agent="orchestrator")
        transcript.append("assistant", "x" * 100, tool_calls=[{"id": f"c{n}"}], agent="orchestrator")
        transcript.append("tool", "y" * 5_000, tool_call_id=f"c{n}", agent="orchestrator")
    hidden = transcript.append("user", "rolled back", agent="orchestrator")
    transcript.mark_rolled_back(hidden.id - 1, rollback_id=1)
    everything, complete = transcript.tail("orchestrator", 0, 10**9)
    assert complete and len(everything) == 18 and everything[0].content == "question 0"
    assert everything[1].tool_calls == [{"id": "c0"}] and hidden.id not in [m.id for m in everything]
    # a round is ~5,124 characters; rows are read newest first until more than the budget
    # was taken, so 12,000 takes two rounds and the third round's tool result
    newest, complete = transcript.tail("orchestrator", 0, 12_000)
    assert not complete and len(newest) == 7
    assert newest[0].tool_call_id == "c3" and newest[1].content == "question 4"
    # a tool result counts at most tool_chars (it is sent trimmed): the same budget reaches further
    trimmed, complete = transcript.tail("orchestrator", 0, 12_000, tool_chars=500)
    assert complete and len(trimmed) == 18
    # after_id and upto_id bound the rows read
    middle, _ = transcript.tail("orchestrator", everything[2].id, 10**9, upto_id=everything[5].id)
    assert [m.id for m in middle] == [m.id for m in everything[3:6]]


def test_an_unusable_sessions_folder_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(SessionFileError, match="cannot create the sessions folder"):
        SessionDirectory(blocker / "sessions").create(workspace_root=tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_an_unwritable_sessions_folder_is_one_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "sessions"
    folder.mkdir(mode=0o500)
    try:
        with pytest.raises(SessionFileError, match="not writable"):
            SessionDirectory(folder).create(workspace_root=tmp_path)
    finally:
        folder.chmod(0o700)


def test_a_reader_statement_past_its_step_budget_stops_with_one_line() -> None:
    """Issue 20, major 7: a query that never ends (a recursive VIEW slipped past the checks, say)
    is stopped by the progress handler of a reader, and the connection stays usable."""
    import sqlite3

    from agentcli.store.db import Db, ReadTooLongError

    db = Db(sqlite3.connect(":memory:"), step_budget=200_000, name="hostile.sqlite")
    endless = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"
    with pytest.raises(ReadTooLongError, match="hostile.sqlite: a read went on past 200,000 SQLite steps"):
        db.scalar(endless)
    with pytest.raises(ReadTooLongError):
        list(db.query(endless))
    assert db.scalar("SELECT 41 + 1") == 42  # each statement has its own budget
    unbounded = Db(sqlite3.connect(":memory:"))
    bounded_loop = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 300000) "
    assert unbounded.scalar(bounded_loop + "SELECT count(*) FROM n") == 300000
