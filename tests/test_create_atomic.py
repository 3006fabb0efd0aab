"""Security issue 8, item 3: a session file is complete or absent.

``agentcli new`` is SIGKILLed at every failpoint inside creation; afterwards either no
session file exists, or ``agentcli resume`` of it finishes the prompt. ``agentcli list``
never shows a half-made file.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from agent_harness import agentcli, agentcli_process, cli_env, rows
from openai_answers import text_answer

from agentcli.session.directory import SessionDirectory
from agentcli.session.session import Session

STAGES = ["store.create.schema", "session.create.meta", "session.create.filled", "store.create.built",
          "store.create.visible"]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "README").write_text("a project\n")
    return root


def session_files(workspace: Path) -> list[Path]:
    return sorted(workspace.rglob("*.sqlite"))


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES)
def test_a_kill_inside_creation_leaves_no_file_or_a_resumable_one(openai_server, workspace, tmp_path,
                                                                  stage):
    env = cli_env(tmp_path / "home")
    common = ["-p", "--base-url", openai_server.base_url, "--approval", "full-auto"]
    killed = agentcli_process(["new", "say done", *common], cwd=workspace,
                              env={**env, "AGENTCLI_FAILPOINTS": stage})
    assert killed.code == -signal.SIGKILL, killed.stderr
    assert not openai_server.requests
    listed = agentcli(["list", "--all"], cwd=workspace, env=env)
    assert listed.code == 0 and ".creating" not in listed.stdout + listed.stderr
    found = session_files(workspace)
    if stage != "store.create.visible":
        assert found == []
        return
    assert len(found) == 1
    openai_server.script(text_answer("done"))
    run = agentcli(["resume", str(found[0]), *common], cwd=workspace, env=env)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "done"
    sent = openai_server.requests[0].body["messages"]
    assert [m["role"] for m in sent] == ["system", "user"] and sent[1]["content"] == "say done"
    assert rows(found[0], "SELECT title FROM meta")[0]["title"] == "say done"


def test_create_writes_meta_system_and_prompt_in_one_step(tmp_path: Path) -> None:
    folder = SessionDirectory(tmp_path / "sessions")
    stages: list[str] = []

    def step(name: str) -> None:
        stages.append(name)
        if name != "store.create.visible":  # not visible until complete
            assert not list(folder.path.glob("*.sqlite"))

    with folder.create(workspace_root=tmp_path, system="You are agentcli.", prompt="fix it",
                       prompt_source="stdin", step=step) as session:
        assert session.meta().title == "fix it"
        assert [m.role for m in session.transcript.all()] == ["system"]
        queued = [(p.text, p.source, p.status) for p in session.prompts.all()]
        assert queued == [("fix it", "stdin", "queued")]
    assert stages == STAGES
    assert [p.name for p in folder.path.iterdir() if p.suffix == ".sqlite"] == [session.path.name]
    assert not list(folder.path.glob(".*creating*"))


def test_a_failed_creation_leaves_nothing_and_dead_builds_are_swept(tmp_path: Path) -> None:
    folder = SessionDirectory(tmp_path / "sessions")
    folder.ensure()
    stale = folder.path / ".0000000000000.sqlite.999999999.creating"
    stale.write_bytes(b"half")

    def boom(name: str) -> None:
        if name == "session.create.meta":
            raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        Session.create(folder.path / "0123456789abc.sqlite", workspace_root=tmp_path, step=boom)
    assert sorted(p.name for p in folder.path.iterdir()) == sorted([".gitignore", stale.name])
    folder.create(workspace_root=tmp_path).close()
    assert not stale.exists()
    assert folder.entries(None)[0].error is None
