"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_harness import cli_env
from openai_server import ScriptedOpenAIServer
from session_factory import make_session


@pytest.fixture
def openai_server() -> Iterator[ScriptedOpenAIServer]:
    """A started ``ScriptedOpenAIServer`` (empty script), stopped after the test."""
    with ScriptedOpenAIServer() as server:
        yield server


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The environment for an ``agentcli`` run: no developer config, fast retries."""
    return cli_env(tmp_path / "home")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """An empty workspace folder (modules that need files in it override this)."""
    root = tmp_path / "ws"
    root.mkdir()
    return root.resolve()


@pytest.fixture
def session_path(workspace: Path) -> Path:
    """A populated session of ``workspace``, in its default sessions folder."""
    return make_session(workspace / "sessions", workspace)
