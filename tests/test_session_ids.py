"""Session ids and how a SESSION argument finds its file."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from agentcli.errors import SessionNotFoundError, UsageError
from agentcli.session.directory import SessionDirectory
from agentcli.session.session import Session
from agentcli.store.ids import ALPHABET, looks_like_id, new_id


def test_ids_sort_by_creation_time() -> None:
    stamps = [0, 1, 999, 1_000, 1_700_000_000_000, 1_700_000_000_001, 32**9 - 1]
    ids = [new_id(ms) for ms in stamps]
    assert ids == sorted(ids)
    live = []
    for _ in range(3):
        live.append(new_id())
        time.sleep(0.002)
    assert live == sorted(live)


def test_ids_are_unique_short_and_file_name_safe() -> None:
    ids = {new_id(1_700_000_000_000) for _ in range(2_000)}  # same millisecond: randomness decides
    assert len(ids) >= 1_990  # 32**4 random suffixes; a handful of collisions at most
    for session_id in ids:
        assert len(session_id) == 13
        assert re.fullmatch(f"[{ALPHABET}]+", session_id)
        assert looks_like_id(session_id)
    assert not looks_like_id("../etc") and not looks_like_id("")


def test_ids_of_different_milliseconds_never_collide() -> None:
    ids = [new_id(1_700_000_000_000 + ms) for ms in range(5_000)]
    assert len(set(ids)) == len(ids)
    assert len({i[:9] for i in ids}) == len(ids)  # the time part alone tells them apart


def _touch(folder: Path, *ids: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for session_id in ids:
        (folder / f"{session_id}.sqlite").touch()


def test_resolve_full_id_and_unique_prefix(tmp_path: Path) -> None:
    folder = SessionDirectory(tmp_path)
    _touch(tmp_path, "1abcdefgh0000", "1abczzzzz0000", "2xyzxyzxy0000")
    assert folder.resolve("1abcdefgh0000") == tmp_path / "1abcdefgh0000.sqlite"
    assert folder.resolve("1abcd") == tmp_path / "1abcdefgh0000.sqlite"
    assert folder.resolve("2xyz") == tmp_path / "2xyzxyzxy0000.sqlite"
    assert folder.resolve("2XYZ") == tmp_path / "2xyzxyzxy0000.sqlite"


def test_resolve_refuses_ambiguous_short_and_unknown(tmp_path: Path) -> None:
    folder = SessionDirectory(tmp_path)
    _touch(tmp_path, "1abcdefgh0000", "1abczzzzz0000")
    with pytest.raises(UsageError, match="matches 2 sessions"):
        folder.resolve("1abc")
    with pytest.raises(UsageError, match="too short"):
        folder.resolve("1ab")
    with pytest.raises(SessionNotFoundError, match="no session 'zzzz'"):
        folder.resolve("zzzz")
    with pytest.raises(SessionNotFoundError):
        SessionDirectory(tmp_path / "missing").resolve("1abcdefgh0000")


def test_resolve_last_is_the_most_recently_updated_session_of_this_workspace(tmp_path: Path) -> None:
    folder = SessionDirectory(tmp_path / "sessions")
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    with folder.create(workspace_root=here, title="older") as older:
        older_path = older.path
    with folder.create(workspace_root=here, title="newer") as newer:
        newer_path = newer.path
    with folder.create(workspace_root=elsewhere, title="other workspace"):
        pass
    assert folder.resolve("last", here) == newer_path
    time.sleep(0.002)
    with Session.open(older_path, writer=True) as older:
        older.update_meta(status="idle")  # touching it makes it the most recent
    assert folder.resolve("last", here) == older_path
    with pytest.raises(SessionNotFoundError, match="no session of this workspace"):
        folder.resolve("last", tmp_path / "nowhere")


def test_resolve_a_path_to_a_session_file(tmp_path: Path) -> None:
    folder = SessionDirectory(tmp_path / "sessions")
    with folder.create(workspace_root=tmp_path) as session:
        path = session.path
    copy = tmp_path / "copied" / "ci-run.sqlite"
    copy.parent.mkdir()
    copy.write_bytes(path.read_bytes())
    assert folder.resolve(str(copy)) == copy
    assert folder.resolve(str(path)) == path
    with pytest.raises(SessionNotFoundError, match="no session file"):
        folder.resolve(str(tmp_path / "absent.sqlite"))


def test_resolve_names_what_cannot_be_an_id(tmp_path: Path) -> None:
    folder = SessionDirectory(tmp_path)
    _touch(tmp_path, "1abcdefgh0000")
    with pytest.raises(UsageError, match="not a session id"):
        folder.resolve("last-one")  # '-' and 'l' never occur in an id
