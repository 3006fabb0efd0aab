"""Shared pytest fixtures, and two settings that keep the suite fast without changing what it checks."""

from __future__ import annotations

import os
import re
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_harness import cli_env, sessions_folder
from openai_server import ScriptedOpenAIServer
from session_factory import make_session

RAM_TMP = Path("/dev/shm")
RAM_TMP_MIN_FREE = 1 << 30


def pytest_configure(config: pytest.Config) -> None:
    """Put ``tmp_path`` on a RAM file system when there is one with room (unless ``--basetemp``
    or ``$TMPDIR`` says where): session files commit with ``synchronous = FULL``, and an fsync
    to a busy disk costs far more than the test around it. Nothing a test checks depends on
    the disk: a killed process loses nothing either way, and the disk-full test mounts its own."""
    if config.option.basetemp or os.environ.get("TMPDIR"):
        return
    try:
        stats = os.statvfs(RAM_TMP)
    except OSError:
        return
    if os.access(RAM_TMP, os.W_OK) and stats.f_bavail * stats.f_frsize >= RAM_TMP_MIN_FREE:
        tempfile.tempdir = str(RAM_TMP)


@pytest.fixture(scope="session", autouse=True)
def _one_certificate_ca_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point ``SSL_CERT_FILE`` at a file of one CA certificate while the tests run.

    Every ``openai`` client builds an SSL context and parses the CA bundle for it (~0.1 s a
    client on a busy machine), although the tests only speak plain HTTP to 127.0.0.1; the
    subprocesses inherit it through ``cli_env``. The previous value comes back afterwards."""
    saved = os.environ.get("SSL_CERT_FILE")
    paths = ssl.get_default_verify_paths()
    first = None
    for bundle in (saved, paths.cafile, paths.openssl_cafile):
        try:
            first = re.search(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----",
                              Path(bundle or "").read_text(), re.S)
        except (OSError, ValueError):
            continue
        if first:
            break
    if first is None:  # no bundle to take one from: leave things as they are
        yield
        return
    small = tmp_path_factory.mktemp("ca") / "one-ca.pem"
    small.write_text(first.group(0) + "\n")
    os.environ["SSL_CERT_FILE"] = str(small)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = saved


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
    return make_session(sessions_folder(workspace), workspace)
