"""The path jail and the careful file I/O of the workspace."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agentcli.agent.errors import ToolError
from agentcli.agent.workspace.jail import (
    Workspace,
    default_file_mode,
    read_state,
    remove_file,
    write_atomic,
)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('hi')\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / "sessions").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret\n")
    return root


@pytest.fixture
def ws(root: Path) -> Workspace:
    return Workspace(root, protected=[root / "sessions"])


def test_relative_path_resolves_inside_root(ws: Workspace, root: Path) -> None:
    assert ws.resolve("src/app.py") == root / "src" / "app.py"
    assert ws.resolve("src/new/file.py") == root / "src" / "new" / "file.py"
    assert ws.resolve(".") == root
    assert ws.resolve("src/../README.md") == root / "README.md"


@pytest.mark.parametrize("path", ["../x", "src/../../x", "../repo2/x", "..", "/etc/passwd"])
def test_escapes_are_refused(ws: Workspace, path: str) -> None:
    with pytest.raises(ToolError, match="outside the workspace"):
        ws.resolve(path)


def test_absolute_path_inside_root_is_allowed(ws: Workspace, root: Path) -> None:
    assert ws.resolve(str(root / "src" / "app.py")) == root / "src" / "app.py"


def test_symlinked_file_pointing_out_is_refused(ws: Workspace, root: Path, tmp_path: Path) -> None:
    (root / "leak.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    with pytest.raises(ToolError, match="outside the workspace"):
        ws.resolve("leak.txt")


def test_new_file_through_symlinked_dir_pointing_out_is_refused(
    ws: Workspace, root: Path, tmp_path: Path
) -> None:
    (root / "linkdir").symlink_to(tmp_path / "outside", target_is_directory=True)
    with pytest.raises(ToolError, match="outside the workspace"):
        ws.resolve("linkdir/new.txt")
    with pytest.raises(ToolError, match="outside the workspace"):
        ws.resolve("linkdir/deeper/new.txt")


def test_symlink_that_stays_inside_resolves_to_its_target(ws: Workspace, root: Path) -> None:
    (root / "alias.py").symlink_to(root / "src" / "app.py")
    assert ws.resolve("alias.py") == root / "src" / "app.py"


@pytest.mark.parametrize("path", [".git", ".git/config", "src/.git/HEAD", "./src/../.git/x"])
def test_git_folder_is_refused(ws: Workspace, path: str) -> None:
    with pytest.raises(ToolError, match=r"\.git folder"):
        ws.resolve(path)


def test_symlink_into_git_is_refused(ws: Workspace, root: Path) -> None:
    (root / "cfg").symlink_to(root / ".git" / "config")
    with pytest.raises(ToolError, match=r"\.git folder"):
        ws.resolve("cfg")


@pytest.mark.parametrize("path", ["sessions", "sessions/abc.sqlite", "src/../sessions/x"])
def test_protected_sessions_folder_is_refused(ws: Workspace, path: str) -> None:
    with pytest.raises(ToolError, match="protected folder"):
        ws.resolve(path)


def test_nul_byte_is_refused(ws: Workspace) -> None:
    with pytest.raises(ToolError, match="Invalid path"):
        ws.resolve("a\x00b")


def test_relative_gives_slash_separated_path(ws: Workspace, root: Path) -> None:
    assert ws.relative(root / "src" / "app.py") == "src/app.py"
    assert ws.relative(root) == "."


def test_write_atomic_creates_parents_and_leaves_no_temp_file(root: Path) -> None:
    target = root / "a" / "b" / "c.txt"
    write_atomic(target, b"data")
    assert target.read_bytes() == b"data"
    assert os.listdir(target.parent) == ["c.txt"]


def test_write_atomic_preserves_existing_mode(root: Path) -> None:
    script = root / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    write_atomic(script, b"#!/bin/sh\necho hi\n")
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert script.read_bytes() == b"#!/bin/sh\necho hi\n"


def test_write_atomic_explicit_mode(root: Path) -> None:
    target = root / "x.bin"
    write_atomic(target, b"\x00\x01", mode=0o600)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_new_file_mode_follows_umask(root: Path) -> None:
    old = os.umask(0o077)
    try:
        assert default_file_mode() == 0o600
        write_atomic(root / "private.txt", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((root / "private.txt").stat().st_mode) == 0o600
    assert default_file_mode() == 0o644 & ~old


def test_read_state_and_remove(root: Path) -> None:
    target = root / "src" / "app.py"
    state = read_state(target)
    assert state is not None and state.data == b"print('hi')\n"
    assert state.mode == stat.S_IMODE(target.stat().st_mode)
    remove_file(target)
    assert read_state(target) is None
    remove_file(target)  # already gone: fine
    with pytest.raises(ToolError, match="not a regular file"):
        read_state(root / "src")
