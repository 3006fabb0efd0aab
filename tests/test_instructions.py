"""Security issue 8, item 4: project instructions come from inside the workspace only.

AGENTS.md is read through the same jail as read_file: a symlink leading out, a FIFO, a
device or a folder named AGENTS.md gives nothing (and never blocks); every AGENTS.md
from the root down to the current folder is given, the nearest last, each size-capped.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from agentcli.agent.system_prompt import instruction_folders, system_prompt


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("TOP SECRET outside the workspace\n")
    return root


def test_a_symlink_leading_out_is_not_read(root: Path, tmp_path: Path) -> None:
    (root / "AGENTS.md").symlink_to(tmp_path / "secret.txt")
    assert "TOP SECRET" not in system_prompt(root, "ask")


def test_a_symlink_inside_the_workspace_is_read(root: Path) -> None:
    (root / "docs.md").write_text("use tabs\n")
    (root / "AGENTS.md").symlink_to("docs.md")
    assert "use tabs" in system_prompt(root, "ask")


def test_a_fifo_named_agents_md_does_not_block(root: Path) -> None:
    os.mkfifo(root / "AGENTS.md")
    answer: list[str] = []
    reader = threading.Thread(target=lambda: answer.append(system_prompt(root, "ask")), daemon=True)
    reader.start()
    reader.join(5)
    assert answer and "Project instructions" not in answer[0]


def test_a_folder_named_agents_md_is_skipped(root: Path) -> None:
    (root / "AGENTS.md").mkdir()
    assert "Project instructions" not in system_prompt(root, "ask")


def test_every_agents_md_from_the_root_down_nearest_last(root: Path) -> None:
    (root / "AGENTS.md").write_text("root rule\n")
    (root / "pkg" / "AGENTS.md").write_text("pkg rule\n")
    (root / "pkg" / "sub" / "AGENTS.md").write_text("sub rule\n")
    folders = instruction_folders(root, root / "pkg" / "sub")
    assert folders == [root, root / "pkg", root / "pkg" / "sub"]
    text = system_prompt(root, "ask", folders)
    assert text.index("root rule") < text.index("pkg rule") < text.index("sub rule")
    assert "sub rule" not in system_prompt(root, "ask")  # the root alone by default


def test_a_folder_outside_the_workspace_is_never_read(root: Path, tmp_path: Path) -> None:
    (tmp_path / "AGENTS.md").write_text("TOP SECRET parent rule\n")
    assert instruction_folders(root, tmp_path) == [root]
    assert "TOP SECRET" not in system_prompt(root, "ask", [tmp_path, root])


def test_a_huge_agents_md_is_cut(root: Path) -> None:
    (root / "AGENTS.md").write_text("x" * 5_000_000)
    text = system_prompt(root, "ask")
    assert len(text) < 40_000 and "cut at" in text
