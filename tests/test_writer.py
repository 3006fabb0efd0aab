"""One writer per session file: transactions from many threads never nest into each other."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcli.session.directory import SessionDirectory
from agentcli.session.session import Session

THREADS = 12
ROUNDS = 40


class Boom(Exception):
    pass


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    opened = SessionDirectory(tmp_path / "sessions").create(workspace_root=tmp_path, title="t")
    yield opened
    opened.close()


def _contents(path: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [row[0] for row in conn.execute("SELECT content FROM messages ORDER BY id")]
    finally:
        conn.close()


def test_many_threads_appending_and_rolling_back_lose_and_leak_nothing(session: Session) -> None:
    """Each thread commits some steps and rolls others back, all at once. Every committed
    row is in the file (read by another connection) and no rolled-back row is."""
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(ROUNDS):
                try:
                    with session.transaction():
                        session.transcript.append("user", f"t{n}-{i}-a", agent=f"a{n}")
                        # a nested step of the same thread is a savepoint of its own transaction
                        with session.transaction():
                            session.transcript.append("user", f"t{n}-{i}-b", agent=f"a{n}")
                        if i % 3 == 0:
                            raise Boom
                except Boom:
                    pass
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    expected = {f"t{n}-{i}-{part}" for n in range(THREADS) for i in range(ROUNDS) if i % 3
                for part in "ab"}
    stored = _contents(session.path)
    assert len(stored) == len(set(stored))
    assert set(stored) == expected


def test_a_thread_outside_a_transaction_does_not_join_another_threads(session: Session) -> None:
    """A plain append from thread B while thread A's transaction is open is its own step:
    A rolling back must not take B's row with it."""
    inside, appended = threading.Event(), threading.Event()

    def a() -> None:
        try:
            with session.transaction():
                session.transcript.append("user", "from A", agent="a")
                inside.set()
                appended.wait(2)
                raise Boom
        except Boom:
            pass

    def b() -> None:
        inside.wait(2)
        session.transcript.append("user", "from B", agent="b")
        appended.set()

    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _contents(session.path) == ["from B"]
