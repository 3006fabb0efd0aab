"""A full disk is one clear line, and what was recorded stays readable."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from agent_harness import agentcli


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "small"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_disk_full_is_one_line_and_loses_nothing(small_disk, tmp_path, openai_server, env):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    sessions = small_disk / "sessions"
    run = agentcli(["new", "-", "-p", "--base-url", openai_server.base_url,
                    "--sessions-dir", str(sessions)], env=env, cwd=workspace, stdin="x" * 400_000)
    assert run.code == 1, run.stderr
    assert run.stderr.strip().splitlines()[-1].startswith("agentcli: the disk is full")
    assert "Traceback" not in run.stderr
    assert openai_server.requests == []
    listed = agentcli(["list", "--json", "--sessions-dir", str(sessions)], env=env, cwd=workspace)
    assert listed.code == 0, listed.stderr
