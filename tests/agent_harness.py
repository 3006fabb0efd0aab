"""Run the real ``agentcli`` against the scripted server, and read what it wrote.

``agentcli()`` runs the CLI in this process, through the same ``main`` and error boundary
as the installed command, with its own environment, working folder and standard streams:
a fresh interpreter would cost an ``openai`` import per run. ``agentcli_process()`` and
``start()`` run a real ``python -m agentcli`` for what needs a process of its own: being
killed or signalled, crashing at a failpoint, holding a lock against another process.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

API_KEY = "sk-test-secret-0123456789abcdef"


@dataclass
class Run:
    """A finished ``agentcli`` process."""

    code: int
    stdout: str
    stderr: str

    def events(self) -> list[dict[str, Any]]:
        """The ``--json`` event lines."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    @property
    def session_id(self) -> str:
        """The id announced on stderr's first line."""
        first = self.stderr.splitlines()[0]
        assert first.startswith("agentcli: session "), self.stderr
        return first.split()[-1]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment isolated from the developer's config, with fast retries."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AGENTCLI_"))}
    config = home / "config"
    (config / "agentcli").mkdir(parents=True, exist_ok=True)
    (config / "agentcli" / "config.toml").write_text("retry_max_wait = 0.01\n")
    env.update({"XDG_CONFIG_HOME": str(config), "XDG_CACHE_HOME": str(home / "cache"),
                "OPENAI_API_KEY": API_KEY, "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


class HarnessTimeout(BaseException):
    """An in-process run took longer than its ``timeout`` (a BaseException: the CLI's boundary
    turns every Exception into exit 1, and this must reach the test)."""


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`HarnessTimeout` in this (main) thread after ``seconds``."""

    def expire(signum: int, frame: object) -> None:
        raise HarnessTimeout(f"agentcli did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _as_a_process(env: dict[str, str], cwd: Path, stdin: str) -> Iterator[tuple[io.StringIO, io.StringIO]]:
    """Give the CLI what a fresh process would have: ``env`` only, ``cwd``, a piped stdin
    (not a terminal) and its own stdout/stderr; put everything back afterwards."""
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    saved_streams = sys.stdin, sys.stdout, sys.stderr
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
        yield out, err
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def agentcli(args: list[str], *, env: dict[str, str], cwd: Path, stdin: str | None = None,
             timeout: float = 60) -> Run:
    """Run ``agentcli ARGS`` to completion, in this process (see the module docstring)."""
    from agentcli.cli.app import main

    assert "AGENTCLI_FAILPOINTS" not in env, "a failpoint kills its process: use agentcli_process()"
    with _as_a_process(env, cwd, stdin or "") as (out, err), _deadline(timeout):
        try:
            main(args)
            code = 0
        except SystemExit as exited:
            code = exited.code if isinstance(exited.code, int) else (0 if exited.code is None else 1)
        except Exception:  # what an uncaught exception does to a process (--debug re-raises)
            traceback.print_exc()
            code = 1
    return Run(code, out.getvalue(), err.getvalue())


def agentcli_process(args: list[str], *, env: dict[str, str], cwd: Path, stdin: str | None = None,
                     timeout: float = 60) -> Run:
    """Run ``python -m agentcli ARGS`` as a process of its own, to completion."""
    proc = subprocess.run(
        [sys.executable, "-m", "agentcli", *args], cwd=cwd, env=env, input=stdin if stdin is not None else "",
        capture_output=True, text=True, timeout=timeout,
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def start(args: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """Start ``python -m agentcli ARGS`` without waiting (for kill and busy tests)."""
    return subprocess.Popen(
        [sys.executable, "-m", "agentcli", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def rows(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Query a session file read-only, rows as dicts."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        cursor = conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor]
    finally:
        conn.close()


def session_file(workspace: Path, session_id: str) -> Path:
    """Where a session of ``workspace`` lives by default."""
    return sessions_folder(workspace) / f"{session_id}.sqlite"


def sessions_folder(workspace: Path) -> Path:
    """The default sessions folder of ``workspace``: ``.agentcli/sessions`` at its root."""
    return workspace / ".agentcli" / "sessions"
