"""Rollback, undo and diff (SPEC §5), on a session built by driving the tracker for real.

Two prompts are simulated once per module: file-tool edits logged and applied the way
the loop does it, and ``run_shell`` commands run for real between ``before_shell`` and
``after_shell``. Each test works on a fresh copy of that workspace and session, and
compares whole trees — content and mode of every file, every folder, every symlink —
with snapshots taken before each prompt.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from agent_harness import agentcli

from agentcli.agent.history.diff import diff_since
from agentcli.agent.history.rollback import NothingToUndoError, rollback, undo_last_rollback
from agentcli.agent.history.tracker import Tracker
from agentcli.agent.tools.shell import run_command
from agentcli.agent.workspace.edits import FileEdit, apply_edit, plan_replace, plan_write
from agentcli.agent.workspace.jail import Workspace
from agentcli.errors import RollbackConflictError
from agentcli.session.session import Session

Tree = dict[str, tuple[object, ...]]
SESSION = "0123456789abc"
BINARY = bytes(range(256)) * 8


def snapshot(root: Path) -> Tree:
    """Every path under ``root`` but the sessions folder, ``.git`` and ignored files."""
    found: Tree = {}
    for folder, dirs, files in os.walk(root):
        rel_folder = Path(folder).relative_to(root)
        top = rel_folder == Path(".")
        dirs[:] = [d for d in dirs if not (top and d in ("sessions", ".agentcli", ".git", "build"))]
        for name in dirs + files:
            path = Path(folder) / name
            rel = (rel_folder / name).as_posix()
            if rel.endswith(".log"):
                continue
            st = path.lstat()
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                found[rel] = ("dir", st.st_mode & 0o7777)
            else:
                found[rel] = ("file", path.read_bytes(), st.st_mode & 0o7777)
    return found


def tool_call(session: Session, prompt_id: int, name: str) -> int:
    """Journal a tool call the way the loop does (an assistant message, then the call)."""
    message = session.transcript.append("assistant", "", prompt_id=prompt_id,
                                        tool_calls=[{"id": f"c{name}", "type": "function"}],
                                        agent="orchestrator")
    return session.tool_calls.begin(message_id=message.id, position=0, call_id=f"c{name}", name=name,
                                    arguments="{}", prompt_id=prompt_id, agent="orchestrator")


def file_tool(session: Session, tracker: Tracker, ws: Workspace, prompt_id: int, edit: FileEdit,
              name: str) -> None:
    """Log a file tool's edit as intended, apply it, and settle it."""
    with session.transaction():
        row = tool_call(session, prompt_id, name)
        tracker.log_edits(row, prompt_id, [edit])
    apply_edit(ws, edit)
    tracker.edits_applied(row)
    session.tool_calls.finish(row, "done", "ok")


def shell(session: Session, tracker: Tracker, root: Path, prompt_id: int, command: str) -> None:
    """Run a command for real, with the tracker's scans around it."""
    row = tool_call(session, prompt_id, "run_shell")
    tracker.before_shell()
    result = run_command(command, root, timeout=30)
    assert result.exit_code == 0, result.output
    tracker.after_shell(row, prompt_id)
    session.tool_calls.finish(row, "done", result.output)


def start_prompt(session: Session, tracker: Tracker, text: str) -> int:
    prompt = session.prompts.add(text)
    tracker.checkpoint(prompt.id)
    session.prompts.start(prompt.id)
    session.transcript.append("user", text, prompt_id=prompt.id, agent="orchestrator")
    return prompt.id


@dataclass
class Built:
    root: Path
    before: dict[int, Tree]  # checkpoint N -> the tree just before prompt N
    end: Tree


def build(root: Path) -> Built:
    (root / "src").mkdir(parents=True)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    (root / "debug.log").write_text("log line\n")
    (root / "README.md").write_text("# demo\n")
    (root / "src" / "app.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "data.bin").write_bytes(BINARY)
    (root / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    os.chmod(root / "tool.sh", 0o755)
    os.symlink("README.md", root / "link")
    session = Session.create(root / "sessions" / f"{SESSION}.sqlite", workspace_root=root)
    tracker = Tracker(session, root, exclude=[root / "sessions"])
    ws = Workspace(root, protected=[root / "sessions"])
    session.transcript.append("system", "You are agentcli.", agent="orchestrator")
    before = {1: snapshot(root)}
    p1 = start_prompt(session, tracker, "fix add and tidy up")
    file_tool(session, tracker, ws, p1, plan_replace(ws, "src/app.py", "a - b", "a + b")[0], "edit_file")
    file_tool(session, tracker, ws, p1, plan_write(ws, "docs/notes.md", "notes\n"), "write_file")
    shell(session, tracker, root, p1, "mkdir -p out/img && printf 'PNG\\000\\001\\002' > out/img/pic.bin && "
          "rm README.md && chmod 600 data.bin && chmod +x src/app.py && echo more >> debug.log && "
          "echo '[user]' >> .git/config && mkdir -p build && echo x > build/obj.o")
    session.transcript.append("assistant", "Done with prompt 1.", prompt_id=p1, agent="orchestrator")
    session.prompts.finish(p1, "done")
    before[2] = snapshot(root)
    p2 = start_prompt(session, tracker, "more changes")
    shell(session, tracker, root, p2, "echo v2 >> src/app.py && rm -r out && ln -sfn data.bin link && "
          "echo new > new.txt && mkdir empty && head -c 300 /dev/urandom > data.bin")
    redraft = plan_write(ws, "docs/notes.md", "notes, second draft\n")
    file_tool(session, tracker, ws, p2, redraft, "write_file")
    session.transcript.append("assistant", "Done with prompt 2.", prompt_id=p2, agent="orchestrator")
    session.prompts.finish(p2, "done")
    end = snapshot(root)
    session.close()
    return Built(root, before, end)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("template") / "ws")


@pytest.fixture
def built(template: Built, tmp_path: Path) -> Built:
    root = tmp_path / "ws"
    shutil.copytree(template.root, root, symlinks=True)
    return Built(root, template.before, template.end)


def open_session(built: Built) -> Session:
    return Session.open(built.root / "sessions" / f"{SESSION}.sqlite", writer=True)


def cli(built: Built, *args: str) -> subprocess.CompletedProcess[str]:
    """``agentcli ARGS -C ROOT``, run in-process."""
    argv = [*args, "-C", str(built.root)]
    run = agentcli(argv, env=dict(os.environ), cwd=Path.cwd())
    return subprocess.CompletedProcess(argv, run.code, run.stdout, run.stderr)


def cli_process(built: Built, *args: str) -> subprocess.CompletedProcess[str]:
    """``agentcli ARGS -C ROOT`` as a process of its own (to meet a lock this process holds)."""
    return subprocess.run([sys.executable, "-m", "agentcli", *args, "-C", str(built.root)],
                          capture_output=True, text=True, timeout=60)


def live_messages(built: Built) -> list[str]:
    with Session.open(built.root / "sessions" / f"{SESSION}.sqlite", writer=False) as session:
        return [m.content for m in session.transcript.all() if m.rolled_back_by is None and m.content]


def test_the_scenario_changed_every_kind_of_thing(built: Built) -> None:
    changed = {p for p in set(built.before[1]) | set(built.end) if built.before[1].get(p) != built.end.get(p)}
    assert {"README.md", "data.bin", "src/app.py", "docs", "docs/notes.md", "link", "new.txt",
            "empty"} <= changed


def test_rollback_undoes_the_last_prompt_files_and_conversation(built: Built) -> None:
    with open_session(built) as session:
        result = rollback(session, built.root)
        assert result.checkpoint_id == 2 and result.mode == "both"
        assert [p.rolled_back_by for p in session.prompts.all()] == [None, result.rollback_id]
    assert snapshot(built.root) == built.before[2]
    assert "Done with prompt 2." not in live_messages(built)
    assert "Done with prompt 1." in live_messages(built)


def test_rollback_to_1_then_undo_gives_back_each_tree(built: Built) -> None:
    with open_session(built) as session:
        rollback(session, built.root, to=1)
        assert snapshot(built.root) == built.before[1]
        assert live_messages(built) == ["You are agentcli."]
        undo = undo_last_rollback(session, built.root)
        assert undo.undo_of == 1
    assert snapshot(built.root) == built.end
    assert "Done with prompt 2." in live_messages(built)
    with open_session(built) as session:
        assert all(p.rolled_back_by is None for p in session.prompts.all())
        with pytest.raises(NothingToUndoError):
            undo_last_rollback(session, built.root)


def test_ignored_files_and_git_are_never_touched(built: Built) -> None:
    config = (built.root / ".git" / "config").read_text()
    with open_session(built) as session:
        rollback(session, built.root, to=1)
        undo_last_rollback(session, built.root)
        rollback(session, built.root, to=1)
    assert (built.root / ".git" / "config").read_text() == config == "[core]\n[user]\n"
    assert (built.root / "debug.log").read_text() == "log line\nmore\n"
    assert (built.root / "build" / "obj.o").read_text() == "x\n"


def test_conversation_only_marks_messages_and_leaves_files(built: Built) -> None:
    with open_session(built) as session:
        result = rollback(session, built.root, to=1, files=False)
        assert result.mode == "conversation" and result.messages > 0
    assert snapshot(built.root) == built.end
    assert live_messages(built) == ["You are agentcli."]


def test_files_only_restores_files_and_keeps_the_conversation(built: Built) -> None:
    with open_session(built) as session:
        rollback(session, built.root, to=1, conversation=False)
    assert snapshot(built.root) == built.before[1]
    assert "Done with prompt 2." in live_messages(built)


def test_rollback_is_recorded_as_changes_that_can_be_queried(built: Built) -> None:
    with open_session(built) as session:
        result = rollback(session, built.root, to=1)
    db = sqlite3.connect(built.root / "sessions" / f"{SESSION}.sqlite")
    rows = db.execute("SELECT path, op, status FROM file_changes WHERE rollback_id = ? ORDER BY path",
                      [result.rollback_id]).fetchall()
    record = db.execute("SELECT checkpoint_id, mode, status FROM rollbacks").fetchone()
    db.close()
    assert ("README.md", "create", "applied") in rows and ("new.txt", "delete", "applied") in rows
    assert ("docs", "delete", "applied") in rows  # the folder the write_file tool created
    assert record == (1, "both", "done")


def test_conflict_stops_with_exit_5_and_force_overwrites(built: Built) -> None:
    (built.root / "new.txt").write_text("edited by hand\n")
    expected = snapshot(built.root)
    stopped = cli(built, "rollback", SESSION, "--to", "1")
    assert stopped.returncode == 5, stopped.stderr
    assert "new.txt" in stopped.stderr and "--force" in stopped.stderr
    assert snapshot(built.root) == expected
    forced = cli(built, "rollback", SESSION, "--to", "1", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "new.txt" in forced.stderr and "restored  README.md" in forced.stdout
    assert snapshot(built.root) == built.before[1]
    undone = cli(built, "rollback", SESSION, "--undo")
    assert undone.returncode == 0, undone.stderr
    assert snapshot(built.root) == expected  # even the hand edit came back


def test_cli_rollback_undo_and_errors(built: Built) -> None:
    done = cli(built, "rollback", SESSION, "--to", "1", "--files-only")
    assert done.returncode == 0, done.stderr
    assert "Rolled back to checkpoint 1 (files only)" in done.stdout and "removed   new.txt" in done.stdout
    assert snapshot(built.root) == built.before[1]
    assert cli(built, "rollback", SESSION, "--to", "9").returncode == 2
    assert cli(built, "rollback", SESSION, "--files-only", "--conversation-only").returncode == 2
    assert cli(built, "rollback", SESSION, "--undo").returncode == 0
    assert snapshot(built.root) == built.end
    nothing = cli(built, "rollback", SESSION, "--undo")
    assert nothing.returncode == 2 and "no rollback to undo" in nothing.stderr


def test_cli_rollback_refuses_a_busy_session(built: Built) -> None:
    with open_session(built):
        busy = cli_process(built, "rollback", SESSION)
    assert busy.returncode == 4, busy.stderr
    assert snapshot(built.root) == built.end


def test_diff_and_checkpoints_commands(built: Built) -> None:
    shown = cli(built, "diff", SESSION, "--to", "1")
    assert shown.returncode == 0, shown.stderr
    assert "-    return a - b\n+    return a + b\n+v2\n" in shown.stdout
    assert "old mode 100755\nnew mode 100600" not in shown.stdout
    assert "deleted file mode 100644\n--- a/README.md\n+++ /dev/null" in shown.stdout
    assert "old mode 100644\nnew mode 100600\nBinary files a/data.bin and b/data.bin differ" in shown.stdout
    assert "+++ b/new.txt\n@@ -0,0 +1 @@\n+new\n" in shown.stdout
    assert "pic.bin" not in shown.stdout  # created and removed again: no net change
    assert cli(built, "diff", SESSION, "--to", "9").returncode == 2
    last = cli(built, "diff", SESSION)
    assert "a/README.md" not in last.stdout and "b/new.txt" in last.stdout
    listed = cli(built, "checkpoints", SESSION, "--json")
    assert listed.returncode == 0, listed.stderr
    checkpoints = json.loads(listed.stdout)["checkpoints"]
    assert [(c["id"], c["prompt"]) for c in checkpoints] == [(1, "fix add and tidy up"), (2, "more changes")]
    assert checkpoints[0]["file_count"] == 6 and checkpoints[1]["changes"] > 0
    text = cli(built, "checkpoints", SESSION)
    assert "fix add and tidy up" in text.stdout and text.returncode == 0


def test_diff_since_matches_what_the_session_logged(built: Built) -> None:
    with open_session(built) as session:
        text = diff_since(session, 2)
    assert ("diff --git a/link b/link\n--- a/link\n+++ b/link\n@@ -1 +1 @@\n-README.md\n"
            "\\ No newline at end of file\n+data.bin\n\\ No newline at end of file\n") in text
    assert "deleted file mode 100644\nBinary files a/out/img/pic.bin and /dev/null differ" in text


def test_too_large_files_are_reported_not_restorable(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "big.bin").write_bytes(b"b" * 5000)
    (root / "small.txt").write_text("small\n")
    session = Session.create(tmp_path / "s.sqlite", workspace_root=root)
    tracker = Tracker(session, root, max_file_bytes=1000)
    prompt = start_prompt(session, tracker, "grow")
    shell(session, tracker, root, prompt, "echo more >> big.bin && echo more >> small.txt")
    result = rollback(session, root)
    assert result.not_restorable == ["big.bin"] and result.restored == ["small.txt"]
    assert result.partial and result.not_restored == ["big.bin"]
    assert session.rollbacks.get(result.rollback_id).status == "partial"
    assert (root / "small.txt").read_text() == "small\n"
    assert (root / "big.bin").read_bytes() == b"b" * 5000 + b"more\n"
    with pytest.raises(RollbackConflictError) as conflict:
        (root / "small.txt").write_text("mine\n")
        undo_last_rollback(session, root)
    assert conflict.value.paths == ["small.txt"]
    session.close()


def test_a_rollback_cut_short_is_settled_by_what_the_disk_shows(built: Built) -> None:
    from agentcli.session.records import FileChange

    with open_session(built) as session:
        digest = session.blobs.put(b"half\n")
        with session.transaction():
            cut = session.rollbacks.begin(2, "files", forced=False)
            done = session.files.log(FileChange(path="half.txt", op="create", source="rollback",
                                                after_hash=digest, after_mode=0o644, status="intended",
                                                rollback_id=cut))
            never = session.files.log(FileChange(path="never.txt", op="create", source="rollback",
                                                 after_hash=digest, after_mode=0o644, status="intended",
                                                 rollback_id=cut))
        (built.root / "half.txt").write_bytes(b"half\n")  # the process died after this write
        os.chmod(built.root / "half.txt", 0o644)
        rollback(session, built.root, conversation=False)
        statuses = {c.id: c.status for c in session.files.all()}
        assert (statuses[done], statuses[never]) == ("applied", "abandoned")
        assert session.rollbacks.get(cut).status == "interrupted"


def test_a_path_leaving_the_workspace_is_refused(built: Built) -> None:
    from agentcli.agent.history.disk import UnsafePathError
    from agentcli.session.records import FileChange

    with open_session(built) as session:
        digest = session.blobs.put(b"evil\n")
        session.files.log(FileChange(path="../evil.txt", op="delete", source="run_shell",
                                     before_hash=digest, before_mode=0o644))
        with pytest.raises(UnsafePathError):
            rollback(session, built.root, conversation=False)
    assert not (built.root.parent / "evil.txt").exists()


def test_cli_rollback_without_c_refuses_a_foreign_workspace(built: Built, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    session_file = str(built.root / "sessions" / f"{SESSION}.sqlite")
    refused = agentcli(["rollback", session_file], env=dict(os.environ), cwd=elsewhere)
    assert refused.code == 2 and "-C" in refused.stderr
    assert list(elsewhere.iterdir()) == [] and snapshot(built.root) == built.end


@pytest.mark.slow
def test_three_prompts_through_the_agent_then_rollback_to_1_and_undo(tmp_path: Path,
                                                                     env: dict[str, str]) -> None:
    """SPEC §5 as a user meets it: the real agent, scripted model, three prompts."""
    from openai_answers import text_answer, tool_answer, tool_call
    from openai_server import ScriptedOpenAIServer

    root = tmp_path / "ws"
    root.mkdir()
    (root / "app.js").write_text("console.log('v1')\n")
    (root / "run.sh").write_text("#!/bin/sh\nnode app.js\n")
    os.chmod(root / "run.sh", 0o755)
    start = snapshot(root)
    install = ("mkdir -p node_modules/left-pad/lib && echo 'module.exports = 1' > "
               "node_modules/left-pad/index.js && head -c 2048 /dev/urandom > "
               "node_modules/left-pad/lib/native.node && echo '{}' > lock.json")
    with ScriptedOpenAIServer() as server:
        server.script(
            tool_answer(tool_call("run_shell", {"command": install})), text_answer("installed"),
            tool_answer(tool_call("edit_file", {"path": "app.js", "old_string": "v1", "new_string": "v2"})),
            tool_answer(tool_call("run_shell", {"command": "chmod -x run.sh && rm lock.json"})),
            text_answer("edited"),
            tool_answer(tool_call("write_file", {"path": "src/util.js", "content": "export {}\n"})),
            tool_answer(tool_call("run_shell", {"command": "rm -r node_modules/left-pad/lib"})),
            text_answer("refactored"),
        )
        common = ["-p", "--base-url", server.base_url, "--approval", "full-auto"]
        prompts = (["new", "install deps"], ["resume", "last", "edit app"], ["resume", "last", "refactor"])
        for command in prompts:
            run = agentcli([*command, *common], env=env, cwd=root)
            assert run.code == 0, run.stderr
    end = snapshot(root)
    assert end != start and "node_modules/left-pad/index.js" in end and "src/util.js" in end
    back = agentcli(["rollback", "last", "--to", "1"], env=env, cwd=root)
    assert back.code == 0, back.stderr
    assert "removed   node_modules/left-pad/index.js" in back.stdout
    assert snapshot(root) == start
    again = agentcli(["rollback", "last", "--undo"], env=env, cwd=root)
    assert again.code == 0, again.stderr
    assert snapshot(root) == end
