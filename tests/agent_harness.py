"""Run the real ``agentcli`` as a subprocess against the scripted server, and read what it wrote."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
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
    env.update({"XDG_CONFIG_HOME": str(config), "OPENAI_API_KEY": API_KEY, "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def agentcli(args: list[str], *, env: dict[str, str], cwd: Path, stdin: str | None = None,
             timeout: float = 60) -> Run:
    """Run ``python -m agentcli ARGS`` to completion."""
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
    return workspace / "sessions" / f"{session_id}.sqlite"
