"""How one agentcli tool call reads in an editor: its ACP kind, title, locations and content.

Live (``updates.py``), replayed (``replay.py``) and in a permission question
(``permissions.py``), a call is described by the same few functions, so the editor shows
one thing three ways alike. Paths go out absolute (ACP's locations and diffs are), inside
the workspace root; a command's output as a fenced block; an edit as ACP ``diff`` content
carrying the whole text before and after, as agentcli applies it.

Example:
    >>> described = describe("read_file", '{"path": "app.py", "offset": 10}', root=Path("/repo"))
    >>> described.kind, described.title, described.locations[0].path
    ('read', 'Read app.py (from line 10)', '/repo/app.py')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acp.schema import (
    ContentToolCallContent,
    FileEditToolCallContent,
    PlanEntry,
    TextContentBlock,
    ToolCallLocation,
)

from agentcli.agent.tools.base import one_line
from agentcli.cli.render.markdown import fenced

KINDS = {"read_file": "read", "list_files": "search", "search": "search", "write_file": "edit",
         "edit_file": "edit", "run_shell": "execute", "update_plan": "think", "scout": "think"}
"""ACP's tool kind of each built-in tool (an MCP tool is ``other``)."""
STATUSES = {"done": "completed", "running": "in_progress", "pending": "pending"}
"""ACP's status of a journaled call (``failed``, ``denied`` and ``interrupted`` are ``failed``)."""
PLAN_STATUSES = {"pending": "pending", "in_progress": "in_progress", "done": "completed"}
CONTENT_CHARS = 20_000  # the most text of one call's content an editor is sent (its tail)
Content = ContentToolCallContent | FileEditToolCallContent


@dataclass
class Described:
    """A call's kind, title and the files it touches."""

    kind: str
    title: str
    locations: list[ToolCallLocation] = field(default_factory=list)


def arguments_of(raw: str) -> dict[str, Any]:
    """The call's arguments as the model wrote them (empty when they are no JSON object)."""
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def describe(name: str, raw: str, *, root: Path, server: str | None = None) -> Described:
    """The kind, title and locations of a call of tool ``name`` with arguments ``raw``."""
    args = arguments_of(raw)
    path = str(args.get("path") or "")
    where = [location(root, path, args.get("offset"))] if path else []
    if server:
        return Described("other", f"{server}: {name.split('__', 1)[-1]}")
    kind = KINDS.get(name, "other")
    if name == "read_file":
        start = args.get("offset")
        return Described(kind, f"Read {path}" + (f" (from line {start})" if start else ""), where)
    if name == "list_files":
        pattern = args.get("pattern")
        return Described(kind, f"List {path or '.'}" + (f" ({pattern})" if pattern else ""),
                         where or [location(root, ".")])
    if name == "search":
        glob = f" in {args['glob']}" if args.get("glob") else ""
        return Described(kind, f"Search {one_line(str(args.get('pattern', '')), 80)}{glob}"
                         + (f" under {path}" if path else ""), where)
    if name in ("write_file", "edit_file"):
        return Described(kind, f"{'Write' if name == 'write_file' else 'Edit'} {path}", where)
    if name == "run_shell":
        outside = " (outside the sandbox)" if args.get("sandbox") is False else ""
        return Described(kind, f"Run {one_line(str(args.get('command', '')), 120)}{outside}")
    if name == "update_plan":
        return Described(kind, "Update the plan")
    if name == "scout":
        tasks = args.get("tasks") if isinstance(args.get("tasks"), list) else []
        return Described(kind, f"Send {len(tasks)} scout{'s' if len(tasks) != 1 else ''}")
    return Described(kind, name or "(a call with no tool name)")


def location(root: Path, path: str, line: Any = None) -> ToolCallLocation:
    """A file of the workspace as ACP names it: absolute, with a line when there is one."""
    number = line if isinstance(line, int) and not isinstance(line, bool) and line >= 0 else None
    return ToolCallLocation(path=str(absolute(root, path)), line=number)


def absolute(root: Path, path: str) -> Path:
    """``path`` (relative to the workspace root, as agentcli records it) made absolute."""
    given = Path(path)
    return given if given.is_absolute() else root / given


def text_content(text: str, *, fence: bool = False) -> ContentToolCallContent:
    """Text for a call's content (its tail past :data:`CONTENT_CHARS`), fenced for output."""
    if len(text) > CONTENT_CHARS:
        text = "…" + text[-CONTENT_CHARS:]
    block = TextContentBlock(type="text", text=fenced(text) if fence else text)
    return ContentToolCallContent(type="content", content=block)


def diff_content(root: Path, path: str, op: str, old: str | None, new: str | None, *,
                 binary: bool = False, diff: str = "") -> Content:
    """One file of an edit as ACP shows it: a ``diff`` of the whole text before (None: a new
    file) and after; a binary or huge file, or a mode change, as agentcli's own ``diff``."""
    if binary or op == "mode":
        return text_content(diff or f"{op} {path}: not text", fence=True)
    return FileEditToolCallContent(type="diff", path=str(absolute(root, path)),
                                   old_text=None if op == "create" else (old or ""), new_text=new or "")


def edit_content(root: Path, edit: dict[str, Any]) -> Content:
    """An edit as an event describes it (``describe_edit``: a side is None when it is not
    text) as ACP content."""
    old, new = edit.get("old_text"), edit.get("new_text")
    return diff_content(root, str(edit.get("path", "")), str(edit.get("op", "")), old, new,
                        binary=old is None or new is None, diff=str(edit.get("diff") or ""))


def result_content(name: str, status: str, output: str) -> list[Content]:
    """What a finished call (not an edit) shows: its result; a command's output, and what a
    read found, fenced (an error of a read is a sentence)."""
    if not output.strip():
        return []
    fence = name == "run_shell" or (name in ("read_file", "search", "list_files") and status == "done")
    return [text_content(output, fence=fence)]


def plan_entries(items: list[dict[str, Any]]) -> list[PlanEntry]:
    """The plan's items as ACP plan entries (every one of medium priority: agentcli has none)."""
    return [PlanEntry(content=str(item.get("title", "")), priority="medium",
                      status=PLAN_STATUSES.get(str(item.get("status")), "pending")) for item in items]


def final_status(status: str) -> str:
    """ACP's status for a call journaled ``status``."""
    return STATUSES.get(status, "failed")
