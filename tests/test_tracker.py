"""The tracker: baseline scans, before-images, shell side effects and file-tool edits."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcli.agent.history.disk import stat_key
from agentcli.agent.history.tracker import Tracker
from agentcli.agent.tools.shell import run_command
from agentcli.agent.workspace.edits import FileEdit, apply_edit, plan_write
from agentcli.agent.workspace.jail import Workspace
from agentcli.agent.workspace.treewalk import TreeWalker, pack_key, walk_tree
from agentcli.session.session import Session
from agentcli.store.blobs import content_hash

SETTLE = 0.08  # past the window in which a file's timestamps cannot be trusted yet
SETTLE_NS = 50_000_000  # the walkers' settle window in these tests, below SETTLE


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text("print('app')\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o755)
    (root / "same.txt").write_text("print('app')\n")  # same content as src/app.py: one blob
    return root


@pytest.fixture
def session(tmp_path: Path, root: Path) -> Iterator[Session]:
    opened = Session.create(root / "sessions" / "0123456789abc.sqlite", workspace_root=root)
    yield opened
    opened.close()


def tracker_for(session: Session, root: Path, **options: int) -> Tracker:
    return Tracker(session, root, exclude=[root / "sessions"], **options)


def shell(session: Session, tracker: Tracker, root: Path, command: str,
          prompt_id: int = 1) -> list[tuple[str, str]]:
    message = session.transcript.append("assistant", "", prompt_id=prompt_id, agent="orchestrator")
    row = session.tool_calls.begin(message_id=message.id, position=0, call_id="c", name="run_shell",
                                   arguments="{}", prompt_id=prompt_id, agent="orchestrator")
    tracker.before_shell()
    assert run_command(command, root, timeout=30).exit_code == 0
    return [(c.op, c.path) for c in tracker.after_shell(row, prompt_id)]


def rows(session: Session, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(session.path)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_walk_follows_gitignore_rules_and_skips_git_and_excluded(root: Path) -> None:
    (root / ".gitignore").write_text("*.log\nbuild/\n/top.txt\n")
    (root / "src" / ".gitignore").write_text("!keep.log\ngen/\n")
    for name in ("a.log", "src/keep.log", "src/other.log", "top.txt", "src/top.txt", "build/x.o",
                 "src/gen/y.py", ".git/config", "sessions/s.sqlite", "deep/.git/HEAD"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x")
    os.symlink("/etc", root / "outside")
    found = walk_tree(root, exclude=[root / "sessions"])
    assert "src/keep.log" in found and "src/top.txt" in found and "outside" in found
    for hidden in ("a.log", "src/other.log", "top.txt", "build", "src/gen", ".git", "sessions", "deep/.git"):
        assert hidden not in found and not any(p.startswith(hidden + "/") for p in found)


def test_walker_reads_again_only_folders_that_changed_and_sees_every_change(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    for name, text in {"a.txt": "a", "src/app.py": "x", "src/gen/out.js": "y", "src/.gitignore": "*.tmp\n",
                       "src/x.tmp": "", "docs/readme.md": "r", ".git/info/.keep": ""}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    walker = TreeWalker(root, settle_ns=SETTLE_NS)
    seen: dict[str, bytes] = {}  # the stat key of every file seen so far, as a baseline would hold it
    before: set[str] = set()

    def scan(listed: int, found: set[str]) -> None:
        nonlocal before
        time.sleep(SETTLE)  # folders changed just before may change again unseen: not reused yet
        walk = walker.scan(seen)
        everything = walk_tree(root)  # a walker that remembers nothing
        assert walk.paths() == everything.keys() and walk.count == len(everything)
        assert walk.gone == before - everything.keys()
        assert (walk.listed, set(walk.found) - {"src", "src/gen", "docs"}) == (listed, found)
        seen.update((rel, key) for rel, st in walk.found.items() if (key := pack_key(stat_key(st))))
        before = walk.paths()

    scan(4, {"a.txt", "src/app.py", "src/gen/out.js", "src/.gitignore", "docs/readme.md"})
    scan(0, set())
    (root / "src" / "app.py").write_text("changed")  # the folder's mtime stays: its listing is reused
    scan(0, {"src/app.py"})
    (root / "src" / ".gitignore").write_text("*.tmp\n!x.tmp\ngen/\n")  # rules change, the folder not
    scan(1, {"src/.gitignore", "src/x.tmp"})
    (root / ".git" / "info" / "exclude").write_text("docs/\n")  # every folder's rules change
    scan(2, set())
    (root / "a.txt").unlink()
    (root / "a.txt").mkdir()
    (root / "a.txt" / "in.txt").write_text("in")
    scan(2, {"a.txt", "a.txt/in.txt"})


def test_walker_reads_again_a_folder_changed_too_recently_to_trust(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    walker = TreeWalker(tmp_path)  # by default a folder must have been left alone for 2 s
    assert [walker.scan({}).listed for _ in range(2)] == [1, 1]


def test_first_checkpoint_stores_every_file_once(session: Session, root: Path) -> None:
    tracker = tracker_for(session, root)
    prompt = session.prompts.add("go")
    checkpoint = tracker.checkpoint(prompt.id)
    assert (checkpoint.id, checkpoint.file_count, checkpoint.last_file_change_id) == (1, 4, 0)
    states = dict(rows(session, "SELECT path, mode FROM file_states"))
    assert states["run.sh"] == 0o755 and states["src"] == 0o040755
    logo = (root / "logo.png").read_bytes()
    assert session.blobs.get(content_hash(logo)) == logo
    assert rows(session, "SELECT count(*) FROM blobs") == [(3,)]  # app.py and same.txt share one
    assert tracker.checkpoint(prompt.id).id == 1  # a resumed prompt keeps its checkpoint


def test_shell_changes_are_logged_with_before_and_after_images(session: Session, root: Path) -> None:
    tracker = tracker_for(session, root)
    tracker.checkpoint(session.prompts.add("go").id)
    changes = shell(session, tracker, root, "mkdir -p out && head -c 500 /dev/urandom > out/r.bin && "
                    "rm logo.png && chmod -x run.sh && echo more >> src/app.py && ln -s src link")
    assert changes == [("create", "link"), ("delete", "logo.png"), ("create", "out"),
                       ("create", "out/r.bin"), ("mode", "run.sh"), ("modify", "src/app.py")]
    logged = {r[0]: r[1:] for r in rows(session, "SELECT path, source, before_hash, after_hash, after_mode, "
                                                  "tool_call_id FROM file_changes")}
    assert all(source == "run_shell" and call == 1 for source, *_rest, call in logged.values())
    assert session.blobs.get(logged["logo.png"][1]).startswith(b"\x89PNG")
    assert session.blobs.get(logged["out/r.bin"][2]) == (root / "out" / "r.bin").read_bytes()
    assert session.blobs.get(logged["link"][2]) == b"src" and logged["link"][3] == 0o120777
    assert logged["run.sh"][3] == 0o644 and logged["run.sh"][1] == logged["run.sh"][2]


def test_changes_made_between_commands_are_baseline_not_agent_changes(session: Session, root: Path) -> None:
    tracker = tracker_for(session, root)
    tracker.checkpoint(session.prompts.add("go").id)
    (root / "same.txt").write_text("edited by the user\n")
    assert shell(session, tracker, root, "true") == []
    assert rows(session, "SELECT count(*) FROM file_changes") == [(0,)]
    assert session.blobs.get(content_hash(b"edited by the user\n")) == b"edited by the user\n"


def test_unchanged_files_are_not_read_again(session: Session, root: Path) -> None:
    time.sleep(SETTLE)
    tracker = tracker_for(session, root)
    tracker.checkpoint(session.prompts.add("go").id)
    checked = dict(rows(session, "SELECT path, checked_ns FROM file_states"))
    shell(session, tracker, root, "echo x >> same.txt")
    after = dict(rows(session, "SELECT path, checked_ns FROM file_states"))
    assert after["same.txt"] > checked["same.txt"]
    assert {p: after[p] for p in ("run.sh", "logo.png", "src/app.py")} == {
        p: checked[p] for p in ("run.sh", "logo.png", "src/app.py")}


def test_a_file_that_stops_being_ignored_is_not_blamed_on_the_command(session: Session, root: Path) -> None:
    (root / ".gitignore").write_text("*.tmp\n")
    (root / "keep.tmp").write_text("old\n")
    time.sleep(SETTLE)
    tracker = tracker_for(session, root)
    tracker.checkpoint(session.prompts.add("go").id)
    assert shell(session, tracker, root, "printf '!keep.tmp\\n' >> .gitignore") == [("modify", ".gitignore")]
    assert shell(session, tracker, root, "printf '*.tmp\\n' > .gitignore") == [("modify", ".gitignore")]
    assert (root / "keep.tmp").exists()


def test_nested_gitignore_and_info_exclude_are_followed(session: Session, root: Path) -> None:
    (root / ".git" / "info").mkdir(parents=True)
    (root / "src" / "gen.py").write_text("generated\n")
    time.sleep(SETTLE)
    tracker = tracker_for(session, root)
    tracker.checkpoint(session.prompts.add("go").id)
    command = "printf 'gen.py\\n' > src/.gitignore && printf 'same.txt\\n' > .git/info/exclude"
    assert shell(session, tracker, root, command) == [("create", "src/.gitignore")]
    tracked = {r[0] for r in rows(session, "SELECT path FROM file_states")}
    assert {"src/gen.py", "same.txt"}.isdisjoint(tracked) and (root / "same.txt").exists()
    assert shell(session, tracker, root, "rm .git/info/exclude") == []  # there all along: adopted
    assert "same.txt" in {r[0] for r in rows(session, "SELECT path FROM file_states")}


def test_a_same_size_rewrite_right_after_a_scan_is_still_seen(session: Session, root: Path) -> None:
    tracker = tracker_for(session, root)
    tracker.checkpoint(session.prompts.add("go").id)
    (root / "same.txt").write_text("AAAA\n")
    tracker.before_shell()
    (root / "same.txt").write_text("BBBB\n")  # same size, likely the same timestamp tick
    message = session.transcript.append("assistant", "", agent="orchestrator")
    row = session.tool_calls.begin(message_id=message.id, position=0, call_id="c", name="run_shell",
                                   arguments="{}", prompt_id=None, agent="orchestrator")
    assert [(c.op, c.path) for c in tracker.after_shell(row, None)] == [("modify", "same.txt")]


def test_file_tool_edits_are_journaled_then_settled(session: Session, root: Path) -> None:
    tracker = tracker_for(session, root)
    prompt = session.prompts.add("go")
    tracker.checkpoint(prompt.id)
    ws = Workspace(root, protected=[root / "sessions"])
    edit = plan_write(ws, "docs/api/notes.md", "notes\n")
    message = session.transcript.append("assistant", "", prompt_id=prompt.id, agent="orchestrator")
    with session.transaction():
        row = session.tool_calls.begin(message_id=message.id, position=0, call_id="c", name="write_file",
                                       arguments="{}", prompt_id=prompt.id, agent="orchestrator")
        tracker.log_edits(row, prompt.id, [edit])
    intended = rows(session, "SELECT path, op, status FROM file_changes")
    assert intended == [("docs/api/notes.md", "create", "intended")]
    apply_edit(ws, edit)
    applied = tracker.edits_applied(row)
    assert [c.path for c in applied] == ["docs/api/notes.md"]
    assert rows(session, "SELECT path, op, status, source FROM file_changes ORDER BY path") == [
        ("docs", "create", "applied", "write_file"), ("docs/api", "create", "applied", "write_file"),
        ("docs/api/notes.md", "create", "applied", "write_file")]
    assert shell(session, tracker, root, "true", prompt.id) == []  # the baseline already knows


def test_reconcile_completes_an_edit_cut_short(session: Session, root: Path) -> None:
    tracker = tracker_for(session, root)
    prompt = session.prompts.add("go")
    tracker.checkpoint(prompt.id)
    edit = FileEdit("same.txt", b"print('app')\n", b"changed\n", 0o644, 0o644)
    message = session.transcript.append("assistant", "", prompt_id=prompt.id, agent="orchestrator")
    with session.transaction():
        row = session.tool_calls.begin(message_id=message.id, position=0, call_id="c", name="edit_file",
                                       arguments="{}", prompt_id=prompt.id, agent="orchestrator")
        tracker.log_edits(row, prompt.id, [edit])
    # the process died here, before writing; a new process resumes:
    note = tracker_for(session, root).reconcile_edits(row)
    assert "completed" in note and (root / "same.txt").read_text() == "changed\n"
    assert rows(session, "SELECT status FROM file_changes") == [("applied",)]


def test_a_new_tracker_continues_from_the_stored_baseline(session: Session, root: Path) -> None:
    tracker_for(session, root).before_shell()  # the baseline, then the process dies mid-command
    session.checkpoints.create(1, 0, 0)
    (root / "src" / "app.py").write_text("rewritten\n")
    message = session.transcript.append("assistant", "", agent="orchestrator")
    row = session.tool_calls.begin(message_id=message.id, position=0, call_id="c", name="run_shell",
                                   arguments="{}", prompt_id=None, agent="orchestrator")
    changes = tracker_for(session, root).after_shell(row, None)
    assert [(c.op, c.path) for c in changes] == [("modify", "src/app.py")]


def test_large_files_are_tracked_by_hash_only(session: Session, root: Path) -> None:
    (root / "big.bin").write_bytes(b"z" * 4096)
    tracker = tracker_for(session, root, max_file_bytes=1024)
    tracker.checkpoint(session.prompts.add("go").id)
    assert not session.blobs.exists(content_hash(b"z" * 4096))
    shell(session, tracker, root, "echo x >> big.bin")
    assert rows(session, "SELECT path, op, restorable FROM file_changes") == [("big.bin", "modify", 0)]


def test_the_session_file_itself_is_never_tracked(tmp_path: Path, root: Path) -> None:
    with Session.create(root / "0123456789abc.sqlite", workspace_root=root) as inside:
        tracker = Tracker(inside, root)  # no exclude given: its own file is still left out
        tracker.checkpoint(inside.prompts.add("go").id)
        assert shell(inside, tracker, root, "true") == []
        tracked = {r[0] for r in rows(inside, "SELECT path FROM file_states")}
    assert not any(p.startswith("0123456789abc") for p in tracked) and "same.txt" in tracked
