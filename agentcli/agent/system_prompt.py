"""The system prompt: the workspace, the tools, the rules, and the project's AGENTS.md."""

from __future__ import annotations

import os
import platform
import stat
from collections.abc import Sequence
from pathlib import Path

from agentcli.agent.errors import ToolError
from agentcli.agent.workspace.jail import Workspace, parent_folder

AGENTS_FILE = "AGENTS.md"
_AGENTS_LIMIT = 32_000  # characters of AGENTS.md passed on; the rest is cut with a note

_RULES = """\
You are agentcli, a coding agent working in a user's repository through tools.

Workspace root: {root}
Operating system: {system}
Approval mode: {approval}

How to work:
- Look before you change: use list_files, search and read_file to understand the code.
- For multi-step work, keep a short plan with update_plan and update it as items finish.
- Change files with edit_file (exact replacement of a unique old_string) or write_file
  (whole new content). Paths are relative to the workspace root; nothing outside it, in
  .git or in agentcli's own files (.agentcli/, agentcli.toml) can be touched.
- scout (when offered) sends read-only helpers that investigate in parallel, each with
  its own task; use it for several independent questions at once (surveying a
  repository, finding where things are handled) and work from their reports.
- run_shell runs a command in the workspace root (bash) with a timeout; use it to run
  tests, builds and other commands. Its output is capped.
- A tool result that starts with "error:" tells you what went wrong: correct the call
  and go on. A call the approval policy denied will not run: do without it, or say what
  the user must allow.
- When the task is done, answer with a short summary of what you changed and how you
  checked it, without calling a tool.
"""


def system_prompt(root: Path, approval: str, folders: Sequence[Path] | None = None) -> str:
    """The system message for a new session in ``root``.

    ``folders`` (default: the root alone) are where to look for AGENTS.md, the root
    first and the current folder last (:func:`instruction_folders`), so the nearest
    instructions come last. Each is read through the workspace jail: a file outside the
    workspace (also through a symlink), or one that is not a regular file, gives nothing.
    """
    text = _RULES.format(root=root, system=platform.system(), approval=approval)
    workspace = Workspace(root)
    for folder in folders if folders is not None else [workspace.root]:
        body = _read_instructions(workspace, Path(folder) / AGENTS_FILE)
        if body.strip():
            shown = workspace.relative(Path(os.path.realpath(folder)) / AGENTS_FILE)
            text += f"\nProject instructions from {shown} (follow them):\n\n{body.strip()}\n"
    return text


def instruction_folders(root: Path, cwd: Path) -> list[Path]:
    """The folders from ``root`` down to ``cwd`` (just ``root`` when ``cwd`` is not inside it)."""
    real_root, real_cwd = Path(os.path.realpath(root)), Path(os.path.realpath(cwd))
    try:
        parts = real_cwd.relative_to(real_root).parts
    except ValueError:
        return [Path(root)]
    folders = [Path(root)]
    for part in parts:
        folders.append(folders[-1] / part)
    return folders


def _read_instructions(workspace: Workspace, path: Path) -> str:
    """An AGENTS.md's text, capped; empty when it is outside the workspace, protected, not a
    regular file (a FIFO must never block us), or unreadable."""
    try:
        real = workspace.resolve(str(path))
        if real == workspace.root:
            return ""
        with parent_folder(real, root=workspace.root) as (folder, name):
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
            fd = os.open(name, flags, dir_fd=folder)
            with os.fdopen(fd, "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    return ""
                data = handle.read(_AGENTS_LIMIT * 4 + 4)  # UTF-8: at most 4 bytes a character
    except (ToolError, OSError, ValueError):
        return ""
    body = data.decode("utf-8", errors="replace")
    if len(body) > _AGENTS_LIMIT:
        body = body[:_AGENTS_LIMIT] + f"\n[... {AGENTS_FILE} cut at {_AGENTS_LIMIT} characters ...]"
    return body
