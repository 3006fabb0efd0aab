"""The task file: one JSON object a line, checked whole before anything runs.

A line is ``{"prompt": ..., "workspace": DIR}`` or ``{"prompt": ..., "repo": URL_OR_PATH,
"ref": REF}``, with optional ``model``, ``approval``, ``max_turns``, ``max_cost`` and
``id``. Relative paths are read from the task file's folder. Every bad line is reported
with its number in one :class:`TaskFileError` (exit 2); blank lines are skipped.

Example:
    >>> specs = parse_tasks(Path("tasks.jsonl"))
    >>> specs[0].id, specs[0].prompt
    ('t1', 'fix the failing test')
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentcli.errors import UsageError

FIELDS = ("prompt", "workspace", "repo", "ref", "model", "approval", "max_turns", "max_cost", "id")
APPROVALS = ("ask", "auto-edit", "full-auto", "read-only")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://|^[\w.-]+@[\w.-]+:")  # https://..., ssh://..., git@host:path
MAX_REPORTED = 20  # bad lines listed; the count says how many more


class TaskFileError(UsageError):
    """The task file cannot be read, or has bad lines (each named by its number)."""


@dataclass(frozen=True)
class TaskSpec:
    """One task as its line gave it; paths absolute, ``id`` defaulted to ``t<line>``."""

    line: int
    id: str
    prompt: str
    workspace: str | None = None
    repo: str | None = None
    ref: str | None = None
    model: str | None = None
    approval: str | None = None
    max_turns: int | None = None
    max_cost: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The spec as stored in the batch file (``None`` fields left out)."""
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskSpec:
        """The spec back from :meth:`to_json`."""
        return cls(**data)


def is_url(repo: str) -> bool:
    """True for a repository given as a URL (``https://``, ``ssh://``, ``git@host:path``)."""
    return bool(_URL.match(repo))


def parse_tasks(path: Path) -> list[TaskSpec]:
    """Read and check every line of ``path``.

    Raises:
        TaskFileError: the file is unreadable or empty, or any line is bad (all are listed).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise TaskFileError(f"cannot read the task file {path}: {why}") from None
    base = path.resolve().parent
    specs: list[TaskSpec] = []
    errors: list[str] = []
    seen_ids: dict[str, int] = {}
    seen_workspaces: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            spec = _parse_line(raw, number, base)
            _check_unique(spec, seen_ids, seen_workspaces)
        except ValueError as err:
            errors.append(f"line {number}: {err}")
            continue
        specs.append(spec)
    if errors:
        raise TaskFileError(_report(path, errors))
    if not specs:
        raise TaskFileError(f"no tasks in {path}: write one JSON object a line, e.g. "
                            '{"prompt": "fix the tests", "repo": "."}')
    return specs


def _report(path: Path, errors: list[str]) -> str:
    shown = errors[:MAX_REPORTED]
    more = f"\n  ... and {len(errors) - len(shown)} more" if len(errors) > len(shown) else ""
    noun = "line" if len(errors) == 1 else "lines"
    return (f"{path}: {len(errors)} bad task {noun}, nothing was run:\n  "
            + "\n  ".join(shown) + more + "\nfix them and run agentcli batch again")


def _parse_line(raw: str, number: int, base: Path) -> TaskSpec:
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise ValueError(f"not JSON ({err})") from None
    if not isinstance(data, dict):
        raise ValueError("a task is a JSON object, e.g. {\"prompt\": \"...\", \"repo\": \".\"}")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r} (a task has: {', '.join(FIELDS)})")
    prompt = _text(data, "prompt", required=True)
    workspace, repo, ref = _text(data, "workspace"), _text(data, "repo"), _text(data, "ref")
    if workspace and repo:
        raise ValueError("give workspace or repo, not both")
    if not workspace and not repo:
        raise ValueError('give "workspace" (a folder) or "repo" (a git URL or path, e.g. ".")')
    if ref and not repo:
        raise ValueError('"ref" needs a "repo"')
    approval = _text(data, "approval")
    if approval is not None and approval not in APPROVALS:
        raise ValueError(f"approval {approval!r} is not one of {', '.join(APPROVALS)}")
    task_id = _text(data, "id") or f"t{number}"
    if not _ID.fullmatch(task_id):
        raise ValueError(f"id {task_id!r}: use letters, digits, '.', '_' and '-' (64 at most)")
    return TaskSpec(
        line=number, id=task_id, prompt=prompt,  # type: ignore[arg-type]  # required: never None
        workspace=_folder(workspace, base) if workspace else None,
        repo=_repository(repo, base) if repo else None, ref=ref,
        model=_text(data, "model"), approval=approval,
        max_turns=_number(data, "max_turns", integer=True), max_cost=_number(data, "max_cost"),  # type: ignore[arg-type]
    )


def _text(data: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ValueError(f'"{key}" is missing')
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f'"{key}" must be a non-empty string')
    return value


def _number(data: dict[str, Any], key: str, *, integer: bool = False) -> float | int | None:
    value = data.get(key)
    if value is None:
        return None
    kind_ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not kind_ok or not math.isfinite(value) or value <= 0:
        raise ValueError(f'"{key}" must be a positive {"whole number" if integer else "number"}')
    return value


def _folder(value: str, base: Path) -> str:
    folder = (base / Path(value).expanduser()).resolve()
    if not folder.is_dir():
        raise ValueError(f"workspace {value!r} is not a folder ({folder})")
    return str(folder)


def _repository(value: str, base: Path) -> str:
    if is_url(value):
        return value
    folder = (base / Path(value).expanduser()).resolve()
    if not folder.is_dir():
        raise ValueError(f"repo {value!r} is neither a git URL nor a folder ({folder})")
    if not ((folder / ".git").exists() or (folder / "HEAD").is_file()):
        raise ValueError(f"repo {value!r} is not a git repository ({folder} has no .git)")
    return str(folder)


def _check_unique(spec: TaskSpec, ids: dict[str, int], workspaces: dict[str, int]) -> None:
    if spec.id in ids:
        raise ValueError(f"id {spec.id!r} is also line {ids[spec.id]}'s")
    if spec.workspace is not None:
        other = workspaces.get(spec.workspace)
        if other is not None:
            raise ValueError(f"workspace {spec.workspace} is also line {other}'s: two tasks never share "
                             'a work tree (give each "repo" to have a worktree each)')
        workspaces[spec.workspace] = spec.line
    ids[spec.id] = spec.line
