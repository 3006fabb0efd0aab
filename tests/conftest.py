"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from openai_server import ScriptedOpenAIServer


@pytest.fixture
def openai_server() -> Iterator[ScriptedOpenAIServer]:
    """A started ``ScriptedOpenAIServer`` (empty script), stopped after the test."""
    with ScriptedOpenAIServer() as server:
        yield server
