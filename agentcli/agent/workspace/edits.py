"""File edits computed before they happen, so they can be journaled, applied and checked.

A :class:`FileEdit` holds a file's whole content before and after. The file tools compute
one during *prepare*; *execute* applies exactly those bytes with :func:`apply_edit`; after a
crash, :func:`edit_status` tells whether the disk shows the before or the after side.

Example:
    >>> edit = plan_replace(ws, "app.py", "x = 1", "x = 2")
    >>> edit.op
    'modify'
    >>> apply_edit(ws, edit)
    >>> edit_status(ws, edit)
    'after'
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from agentcli.agent.errors import ToolError
from agentcli.agent.workspace.jail import (
    Workspace,
    default_file_mode,
    read_state,
    remove_file,
    set_mode,
    write_atomic,
)

EditOp = Literal["create", "modify", "delete", "mode"]
MAX_EDIT_BYTES = 20_000_000


@dataclass(frozen=True)
class FileEdit:
    """One file's content and mode before and after a change (``None`` = no file)."""

    path: str  # relative to the workspace root, "/"-separated
    before: bytes | None
    after: bytes | None
    before_mode: int | None = None
    after_mode: int | None = None

    @property
    def op(self) -> EditOp:
        """``create``, ``modify``, ``delete`` or ``mode`` (same bytes, new permissions)."""
        if self.before is None:
            return "create"
        if self.after is None:
            return "delete"
        if self.before == self.after and self.before_mode != self.after_mode:
            return "mode"
        return "modify"

    @property
    def before_hash(self) -> str | None:
        """SHA-256 (hex) of the content before, as the blob store addresses it."""
        return None if self.before is None else hashlib.sha256(self.before).hexdigest()

    @property
    def after_hash(self) -> str | None:
        """SHA-256 (hex) of the content after."""
        return None if self.after is None else hashlib.sha256(self.after).hexdigest()


def apply_edit(workspace: Workspace, edit: FileEdit) -> None:
    """Make the disk show ``edit.after`` (bytes and mode); the path is jailed again."""
    path = workspace.resolve(edit.path)
    # The helpers walk the folders again from the root without following symlinks, so a
    # folder swapped for a symlink since resolve() is refused, not written through.
    if edit.after is None:
        remove_file(path, root=workspace.root)
    elif edit.op == "mode":
        set_mode(path, edit.after_mode if edit.after_mode is not None else default_file_mode(),
                 root=workspace.root)
    else:
        write_atomic(path, edit.after, edit.after_mode, root=workspace.root)


def edit_status(workspace: Workspace, edit: FileEdit) -> Literal["before", "after", "other"]:
    """Which side of ``edit`` the disk shows now: ``after`` wins when both sides match."""
    state = read_state(workspace.resolve(edit.path))
    data = None if state is None else state.data
    mode = None if state is None else state.mode

    def shows(content: bytes | None, wanted_mode: int | None) -> bool:
        return data == content and (content is None or wanted_mode is None or mode == wanted_mode)

    if shows(edit.after, edit.after_mode):
        return "after"
    if shows(edit.before, edit.before_mode):
        return "before"
    return "other"


def plan_write(workspace: Workspace, path: str, content: str) -> FileEdit | None:
    """The edit that makes ``path`` hold ``content`` (UTF-8); ``None`` if it already does."""
    real = workspace.resolve(path)
    if real == workspace.root or real.is_dir():
        raise ToolError(f"{path!r} is a folder; give the path of a file to write.")
    state = read_state(real)
    after = content.encode("utf-8")
    rel = workspace.relative(real)
    if state is None:
        return FileEdit(rel, None, after, None, default_file_mode())
    if state.data == after:
        return None
    return FileEdit(rel, state.data, after, state.mode, state.mode)


def plan_replace(
    workspace: Workspace, path: str, old: str, new: str, replace_all: bool = False
) -> tuple[FileEdit, int]:
    """The edit replacing ``old`` by ``new`` in ``path``, and how many places change.

    Works on bytes, so the rest of the file stays byte for byte (encodings, line endings).
    When ``old`` has ``\\n`` line endings and the file uses ``\\r\\n``, both strings are
    converted to ``\\r\\n`` first.

    Raises:
        ToolError: no such file, ``old`` empty, equal to ``new``, absent, or not unique
            without ``replace_all``.
    """
    if old == "":
        raise ToolError("old_string is empty; to create or overwrite a whole file use write_file.")
    if old == new:
        raise ToolError("old_string and new_string are identical; there is nothing to change.")
    real = workspace.resolve(path)
    if real.is_dir():
        raise ToolError(f"{path!r} is a folder; edit_file needs a file.")
    state = read_state(real)
    if state is None:
        raise ToolError(f"File not found: {path!r}. To create a file use write_file.")
    if len(state.data) > MAX_EDIT_BYTES:
        raise ToolError(f"{path!r} is too large to edit ({len(state.data)} bytes).")
    old_b, new_b = old.encode("utf-8"), new.encode("utf-8")
    count = state.data.count(old_b)
    if count == 0 and b"\r\n" in state.data and "\n" in old:
        old_b, new_b = _crlf(old_b), _crlf(new_b)
        count = state.data.count(old_b)
    if count == 0:
        raise ToolError(
            f"old_string not found in {path!r}. It must match the file exactly, including "
            "whitespace and indentation; read the file again and copy the text to replace."
        )
    if count > 1 and not replace_all:
        raise ToolError(
            f"old_string occurs {count} times in {path!r}, so the edit is ambiguous. Add "
            "surrounding lines to old_string to make it unique, or set replace_all to true "
            "to replace every occurrence."
        )
    after = state.data.replace(old_b, new_b, -1 if replace_all else 1)
    edit = FileEdit(workspace.relative(real), state.data, after, state.mode, state.mode)
    return edit, count if replace_all else 1


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
