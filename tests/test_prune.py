"""``agentcli prune`` and ``retention_days`` (issue 24): delete sessions by age, status or
emptiness — every criterion given must match — and never one a process holds."""

from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from agent_harness import agentcli, sessions_folder
from openai_answers import text_answer
from session_factory import make_session, writer_process

from agentcli.session.directory import SessionDirectory
from agentcli.session.session import Session


def _session(workspace: Path, *, days_old: float = 0, status: str = "idle", empty: bool = False,
             title: str = "a session", root: Path | None = None) -> Path:
    """A session of ``root`` (default: ``workspace``) in ``workspace``'s sessions folder, last
    active ``days_old`` days ago, with ``status``; ``empty``: one prompt nobody answered."""
    folder = sessions_folder(workspace)
    root = root or workspace
    if empty:
        with SessionDirectory(folder).create(workspace_root=root, title=title, prompt="never answered",
                                             system="You are agentcli.") as created:
            path = created.path
    else:
        path = make_session(folder, root, title=title)
    stamp = (datetime.now(timezone.utc) - timedelta(days=days_old)).isoformat(timespec="milliseconds")
    with Session.open(path, writer=True) as session:
        session.db.execute("UPDATE meta SET status = ?, updated_at = ?",
                           [status, stamp.replace("+00:00", "Z")])
    old = time.time() - days_old * 86400
    os.utime(path, (old, old))  # as a file nobody has written since
    return path


def _left(workspace: Path) -> set[str]:
    return {p.stem for p in sessions_folder(workspace).glob("*.sqlite")}


def test_prune_by_age_lists_with_dry_run_then_deletes_only_the_old(workspace, env):
    old = _session(workspace, days_old=40, title="old work")
    new = _session(workspace, days_old=2, title="recent work")
    dry = agentcli(["prune", "--older-than", "30d", "--dry-run"], env=env, cwd=workspace)
    assert dry.code == 0, dry.stderr
    assert "would delete" in dry.stdout and old.stem in dry.stdout and new.stem not in dry.stdout
    assert _left(workspace) == {old.stem, new.stem}
    run = agentcli(["prune", "--older-than", "30d", "--yes"], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "deleted 1 session"
    assert _left(workspace) == {new.stem}
    assert sorted(p.name for p in sessions_folder(workspace).iterdir()) == [".gitignore", new.name]


def test_prune_by_status_and_by_emptiness_and_both_together(workspace, env):
    failed = _session(workspace, status="failed")
    cancelled = _session(workspace, status="cancelled", days_old=10)
    idle = _session(workspace)
    empty_new = _session(workspace, empty=True)
    empty_old = _session(workspace, empty=True, days_old=10, status="interrupted")
    both = agentcli(["prune", "--empty", "--older-than", "1w", "--json", "--yes"], env=env, cwd=workspace)
    assert both.code == 0, both.stderr
    assert [d["id"] for d in json.loads(both.stdout)["deleted"]] == [empty_old.stem]
    statuses = agentcli(["prune", "--status", "failed,cancelled", "--yes"], env=env, cwd=workspace)
    assert statuses.code == 0, statuses.stderr
    assert _left(workspace) == {idle.stem, empty_new.stem}
    empties = agentcli(["prune", "--empty", "--yes"], env=env, cwd=workspace)
    assert empties.code == 0 and _left(workspace) == {idle.stem}
    assert failed.stem not in _left(workspace) and cancelled.stem not in _left(workspace)


def test_prune_never_deletes_a_busy_session(workspace, env):
    held = _session(workspace, days_old=90)
    other = _session(workspace, days_old=90)
    with writer_process(held):
        run = agentcli(["prune", "--older-than", "30d", "--yes"], env=env, cwd=workspace)
        assert run.code == 0, run.stderr
        assert "kept (busy)" in run.stdout and run.stdout.splitlines()[-1] == "deleted 1 session; kept 1 busy"
        assert _left(workspace) == {held.stem}
        assert held.with_name(held.name + ".lock").exists()  # still the holder's
    assert other.stem not in _left(workspace)


def test_prune_needs_a_criterion_a_confirmation_and_a_real_age(workspace, env):
    kept = _session(workspace, days_old=40)
    nothing = agentcli(["prune"], env=env, cwd=workspace)
    assert nothing.code == 2 and "--older-than AGE" in nothing.stderr
    unasked = agentcli(["prune", "--older-than", "30d"], env=env, cwd=workspace)  # stdin is no terminal
    assert unasked.code == 2 and "pass --yes" in unasked.stderr
    bad_age = agentcli(["prune", "--older-than", "a month"], env=env, cwd=workspace)
    assert bad_age.code == 2 and "30d, 12h" in bad_age.stderr
    bad_word = agentcli(["prune", "--status", "done"], env=env, cwd=workspace)
    assert bad_word.code == 2 and "idle" in bad_word.stderr
    assert _left(workspace) == {kept.stem}


def test_prune_keeps_to_its_workspace_unless_all(workspace, tmp_path, env):
    other_root = tmp_path / "other"
    other_root.mkdir()
    folder = sessions_folder(workspace)
    mine = _session(workspace, days_old=40)
    theirs = _session(workspace, days_old=1, root=other_root.resolve())
    assert theirs.parent == folder
    run = agentcli(["prune", "--empty", "--older-than", "1s", "--yes"], env=env, cwd=workspace)
    assert run.code == 0 and _left(workspace) == {mine.stem, theirs.stem}  # neither is empty
    run = agentcli(["prune", "--older-than", "30d", "--yes"], env=env, cwd=workspace)
    assert _left(workspace) == {theirs.stem}
    run = agentcli(["prune", "--older-than", "1s", "--all", "--yes"], env=env, cwd=workspace)
    assert run.code == 0 and _left(workspace) == set()


@pytest.fixture
def retention(env: dict[str, str]) -> Path:
    config = Path(env["XDG_CONFIG_HOME"]) / "agentcli" / "config.toml"
    config.write_text(config.read_text() + "retention_days = 30\n")
    return config


def test_retention_days_deletes_old_sessions_when_a_session_starts(openai_server, workspace, env, retention):
    old = _session(workspace, days_old=45)
    recent = _session(workspace, days_old=5)
    openai_server.script(text_answer("hi"))
    run = agentcli(["new", "hello", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert run.stderr.splitlines()[-1] == (f"agentcli: deleted 1 session not active for 30 days "
                                           f"(retention_days, {retention})")
    assert _left(workspace) == {recent.stem, run.session_id}
    assert old.stem not in _left(workspace)
    later = _session(workspace, days_old=45)  # the look is made once a day per sessions folder
    openai_server.script(text_answer("hi again"))
    again = agentcli(["new", "hello", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert again.code == 0 and "deleted" not in again.stderr and later.stem in _left(workspace)


def test_retention_never_deletes_the_session_being_resumed(openai_server, workspace, env, retention):
    old = _session(workspace, days_old=45)
    openai_server.script(text_answer("back again"))
    run = agentcli(["resume", old.stem, "go on", "-p", "--base-url", openai_server.base_url], env=env,
                   cwd=workspace)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "back again" and _left(workspace) == {old.stem}


def test_a_workspace_file_may_not_set_retention_until_trusted(openai_server, workspace, env):
    old = _session(workspace, days_old=45)
    (workspace / "agentcli.toml").write_text("retention_days = 1\n")
    openai_server.script(text_answer("hi"))
    run = agentcli(["new", "hello", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert "ignoring retention_days" in run.stderr
    assert old.stem in _left(workspace)


def test_prune_leaves_the_old_sessions_folder_alone(workspace, env):
    legacy = make_session(workspace / "sessions", workspace, title="left by an older agentcli")
    with Session.open(legacy, writer=True) as session:
        session.db.execute("UPDATE meta SET updated_at = '2020-01-01T00:00:00.000Z'")
    mine = _session(workspace, days_old=40)
    listed = agentcli(["list", "--json"], env=env, cwd=workspace)
    assert {e["id"] for e in json.loads(listed.stdout)} == {legacy.stem, mine.stem}  # both listed
    run = agentcli(["prune", "--older-than", "30d", "--yes"], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert legacy.exists() and not mine.exists()
