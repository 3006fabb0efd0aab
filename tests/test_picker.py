"""The ``resume`` picker (issue 24): every session can be reached — pages and a filter — a
copied or renamed file is named by the id it holds, and each thing its question offers
works: a number, ↑/↓, Enter, an id prefix, words, n/p, *, q."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from agentcli.cli.repl import TerminalIO
from agentcli.cli.terminal.picker import HINT, SHOWN, choice_reader, pick_session
from agentcli.errors import UsageError
from agentcli.session.directory import SessionDirectory


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[SessionDirectory, Path]:
    """45 sessions (more than two pages), titled by their number, oldest first."""
    root = tmp_path_factory.mktemp("picker")
    folder = SessionDirectory(root / "sessions")
    for number in range(45):
        with folder.create(workspace_root=root, title=f"task {number:02d}") as session:
            session.update_meta(updated_at=f"2026-01-01T00:{number:02d}:00.000Z")
    return folder, root


def _pick(entries, keys: str) -> tuple[str, str]:
    """The title picked with ``keys``, and the screen."""
    with create_pipe_input() as pipe:
        out = io.StringIO()
        console = Console(file=out, width=80, color_system=None)
        pipe.send_text(keys)
        picked = pick_session(console, entries, choice_reader(TerminalIO(console, pipe, DummyOutput())))
    return picked.meta.title, out.getvalue()


@pytest.mark.parametrize(("keys", "title"), [
    ("\r", "task 44"),  # Enter: the newest
    ("3\r", "task 42"),
    ("\x1b[B\x1b[B\r", "task 42"),  # ↓ ↓: 3
    ("45\r", "task 00"),  # a number past the first page still picks
    ("n\rn\r\r", "task 04"),  # the third page's first row
    ("n\rp\r\r", "task 44"),
    ("task 07\r\r", "task 07"),  # words filter the list
    ("1\r", "task 44"),
    ("4 task\r2\r", "task 43"),  # every word kept: task 04, 14, 24, 34, 40-44; the second
    ("task 1\r*\r2\r", "task 43"),  # * shows all again
])
def test_every_hint_of_the_picker_works(folder, keys, title):
    directory, root = folder
    picked, _screen = _pick(directory.entries(root), keys)
    assert picked == title


def test_the_first_page_says_there_are_more_and_every_line_fits(folder):
    directory, root = folder
    _picked, screen = _pick(directory.entries(root), "\r")
    assert "(page 1 of 3: n/p)" in screen
    assert all(len(line) <= 80 for line in screen.splitlines())
    assert screen.count("task ") == SHOWN + 0


def test_an_id_prefix_picks_and_q_quits(folder):
    directory, root = folder
    entries = directory.entries(root)
    oldest = min(entries, key=lambda e: e.meta.updated_at)
    assert _pick(entries, f"{oldest.meta.id[:11]}\r")[0] == "task 00"
    with pytest.raises(UsageError, match="no session chosen"):
        _pick(entries, "q\r")


def test_a_renamed_copy_is_named_by_its_id_and_shows_its_file(tmp_path):
    directory = SessionDirectory(tmp_path / "sessions")
    with directory.create(workspace_root=tmp_path, title="the original") as session:
        original = session.path
    shutil.copyfile(original, original.with_name("backup.sqlite"))
    entries = directory.entries(tmp_path)
    _title, screen = _pick(entries, "\r")
    assert screen.count(original.stem) == 2 and "[backup.sqlite] the original" in screen
    # resume by the id finds the file named by it; a lone renamed file is found by the id it holds
    assert directory.resolve(original.stem) == original
    original.unlink()
    assert directory.resolve(original.stem) == original.with_name("backup.sqlite")
    backup = original.with_name("backup.sqlite")
    assert directory.ref(backup, original.stem) == str(backup)  # the hint names what resolves


def test_the_question_fits_80_columns():
    assert len(f"resume which? [{HINT}] › ") < 80


def test_a_title_is_shown_as_typed_never_as_markup(tmp_path):
    directory = SessionDirectory(tmp_path / "sessions")
    directory.create(workspace_root=tmp_path, title="fix [bold]x[/bold] and [red]").close()
    _title, screen = _pick(directory.entries(tmp_path), "\r")
    assert "fix [bold]x[/bold] and [red]" in screen
