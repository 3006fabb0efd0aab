"""Security issue 8, item 1: rollback restores what it promises, and only inside the workspace.

Each test replays an attack that was reproduced from outside: a file hidden from the log
by a later ``.gitignore`` line, a folder swapped for a symlink between the check and the
write, a folder replaced by a symlink leading out, and a file name that forged diff hunks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcli.agent.history.diff import diff_since, file_diff
from agentcli.agent.history.disk import Side
from agentcli.agent.history.rollback import rollback
from agentcli.agent.history.tracker import Tracker
from agentcli.agent.tools.shell import run_command
from agentcli.agent.workspace.jail import write_atomic
from agentcli.session.session import Session


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "keep.txt").write_text("original\n")
    (root / ".gitignore").write_text("*.log\n")
    (root / ".env").write_text("SECRET=original\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "keep.txt").write_text("outside\n")
    return root


@pytest.fixture
def session(root: Path) -> Iterator[Session]:
    opened = Session.create(root / "sessions" / "0123456789abc.sqlite", workspace_root=root)
    yield opened
    opened.close()


def prompt_with_shell(session: Session, root: Path, command: str) -> None:
    """Prompt 1: a checkpoint, then one ``run_shell`` command between the tracker's scans."""
    tracker = Tracker(session, root, exclude=[root / "sessions"])
    prompt = session.prompts.add("do it")
    tracker.checkpoint(prompt.id)
    message = session.transcript.append("assistant", "", prompt_id=prompt.id, agent="orchestrator")
    row = session.tool_calls.begin(message_id=message.id, position=0, call_id="c", name="run_shell",
                                   arguments="{}", prompt_id=prompt.id, agent="orchestrator")
    tracker.before_shell()
    assert run_command(command, root, timeout=30).exit_code == 0
    tracker.after_shell(row, prompt.id)


def test_a_file_ignored_after_the_checkpoint_is_still_rolled_back(session: Session, root: Path) -> None:
    prompt_with_shell(session, root, "echo .env >> .gitignore && echo SECRET=agent > .env")
    result = rollback(session, root, conversation=False)
    assert (root / ".gitignore").read_text() == "*.log\n"
    assert (root / ".env").read_text() == "SECRET=original\n"
    assert ".env" in result.restored


def test_a_file_ignored_by_one_command_and_changed_by_the_next_is_rolled_back(session: Session,
                                                                             root: Path) -> None:
    tracker = Tracker(session, root, exclude=[root / "sessions"])
    prompt = session.prompts.add("do it")
    tracker.checkpoint(prompt.id)
    for command in ("echo .env >> .gitignore", "echo SECRET=agent > .env", "rm sub/keep.txt"):
        tracker.before_shell()
        assert run_command(command, root, timeout=30).exit_code == 0
        tracker.after_shell(None, prompt.id)
    logged = [(c.op, c.path) for c in session.files.since(0)]
    assert ("modify", ".env") in logged
    rollback(session, root, conversation=False)
    assert (root / ".env").read_text() == "SECRET=original\n"
    assert (root / ".gitignore").read_text() == "*.log\n"
    assert (root / "sub" / "keep.txt").read_text() == "original\n"


def test_write_atomic_refuses_a_folder_swapped_for_a_symlink(tmp_path: Path, root: Path) -> None:
    # The check (resolve) happened; now the folder becomes a symlink before the write.
    (root / "sub").rename(root / "sub-old")
    (root / "sub").symlink_to(tmp_path / "outside")
    with pytest.raises(OSError):
        write_atomic(root / "sub" / "keep.txt", b"agent\n", root=root)
    assert (tmp_path / "outside" / "keep.txt").read_text() == "outside\n"
    assert sorted(os.listdir(tmp_path / "outside")) == ["keep.txt"]


def test_write_atomic_under_a_root_creates_folders_and_replaces_a_symlink(root: Path, tmp_path: Path) -> None:
    (root / "link.txt").symlink_to(tmp_path / "outside" / "keep.txt")
    write_atomic(root / "link.txt", b"mine\n", root=root)
    write_atomic(root / "a" / "b" / "new.txt", b"new\n", 0o600, root=root)
    assert not (root / "link.txt").is_symlink() and (root / "link.txt").read_bytes() == b"mine\n"
    assert (tmp_path / "outside" / "keep.txt").read_text() == "outside\n"
    assert (root / "a" / "b" / "new.txt").stat().st_mode & 0o777 == 0o600
    assert os.listdir(root / "a" / "b") == ["new.txt"]


def test_a_folder_replaced_by_a_symlink_leading_out_is_rolled_back(session: Session, root: Path,
                                                                     tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    prompt_with_shell(session, root, f"rm -rf sub && ln -s {outside} sub")
    result = rollback(session, root, conversation=False)
    assert not result.failed, result.failed
    assert (root / "sub").is_dir() and not (root / "sub").is_symlink()
    assert (root / "sub" / "keep.txt").read_text() == "original\n"
    assert (outside / "keep.txt").read_text() == "outside\n"
    assert sorted(os.listdir(outside)) == ["keep.txt"]


def test_a_symlinked_folder_is_rolled_back_with_force_too(session: Session, root: Path,
                                                           tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    prompt_with_shell(session, root, f"rm -rf sub && ln -s {outside} sub")
    (outside / "extra.txt").write_text("not the agent's\n")
    rollback(session, root, conversation=False, force=True)
    assert (root / "sub" / "keep.txt").read_text() == "original\n"
    assert sorted(os.listdir(outside)) == ["extra.txt", "keep.txt"]
    assert (outside / "keep.txt").read_text() == "outside\n"


def test_diff_quotes_file_names_as_git_does(session: Session, root: Path) -> None:
    blobs = session.blobs
    digest = blobs.put(b"x\n")
    forged = "a\n+++ b/evil\n@@ -0,0 +1 @@\n+pwned"
    text = file_diff(forged, Side(), Side(0o644, digest, 2), blobs)
    assert text.splitlines()[0] == r'diff --git "a/a\n+++ b/evil\n@@ -0,0 +1 @@\n+pwned" ' \
                                   r'"b/a\n+++ b/evil\n@@ -0,0 +1 @@\n+pwned"'
    assert r'+++ "b/a\n+++ b/evil\n@@ -0,0 +1 @@\n+pwned"' in text
    assert len(text.splitlines()) == 6  # header, new file mode, ---, +++, @@, +x
    assert file_diff('q"t\\é\t', Side(), Side(0o644, digest, 2), blobs).splitlines()[0] == (
        r'diff --git "a/q\"t\\\303\251\t" "b/q\"t\\\303\251\t"'
    )
    assert file_diff("plain name.txt", Side(), Side(0o644, digest, 2), blobs).splitlines()[0] == (
        "diff --git a/plain name.txt b/plain name.txt"
    )


def test_diff_of_a_session_quotes_the_names_it_logged(session: Session, root: Path) -> None:
    prompt_with_shell(session, root, "printf 'x\\n' > \"$(printf 'new\\nname')\"")
    text = diff_since(session, 1)
    assert r'diff --git "a/new\nname" "b/new\nname"' in text
