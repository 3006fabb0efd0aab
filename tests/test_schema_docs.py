"""Documentation that must not drift: the schema in sessions/README.md, and CLI help."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
import typer.main

from agentcli.cli.app import app
from agentcli.session.session import Session

README = Path(__file__).resolve().parents[1] / "sessions" / "README.md"


def _fresh_schema(tmp_path: Path) -> dict[str, list[str]]:
    Session.create(tmp_path / "0123456789abc.sqlite", workspace_root=tmp_path).close()
    conn = sqlite3.connect(tmp_path / "0123456789abc.sqlite")
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )]
        return {t: [r[1] for r in conn.execute(f"PRAGMA table_info('{t}')")] for t in tables}
    finally:
        conn.close()


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## +(\S+) *$", text, flags=re.MULTILINE)
    return {name: body for name, body in zip(parts[1::2], parts[2::2])}


def test_every_table_and_column_is_documented(tmp_path: Path) -> None:
    sections = _sections(README.read_text())
    missing = []
    for table, columns in _fresh_schema(tmp_path).items():
        body = sections.get(table)
        if body is None:
            missing.append(f"table {table} (no '## {table}' section)")
            continue
        rows = set(re.findall(r"^\| `([^`]+)` \|", body, flags=re.MULTILINE))
        missing += [f"column {table}.{c}" for c in columns if c not in rows]
    assert not missing, "sessions/README.md does not document: " + ", ".join(missing)


def test_readme_documents_no_table_that_does_not_exist(tmp_path: Path) -> None:
    tables = set(_fresh_schema(tmp_path))
    documented = {name for name in _sections(README.read_text()) if re.fullmatch(r"[a-z_]+", name)}
    assert documented - tables == set()


def _commands() -> list[tuple[str, object]]:
    group = typer.main.get_command(app)
    return sorted(group.commands.items())  # type: ignore[attr-defined]


def test_the_app_lists_the_spec_commands() -> None:
    names = {name for name, _ in _commands()}
    assert {"new", "resume", "rollback", "list", "show", "log", "export", "rm"} <= names


@pytest.mark.parametrize("name, command", _commands(), ids=[n for n, _ in _commands()])
def test_every_command_and_option_has_help(name: str, command: object) -> None:
    assert (getattr(command, "help", None) or "").strip(), f"agentcli {name} has no help text"
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") == "option":
            assert (param.help or "").strip(), f"agentcli {name} {param.opts[0]} has no help text"
