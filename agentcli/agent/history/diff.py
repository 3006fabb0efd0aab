"""The unified diff of the agent's changes since a checkpoint, from the session alone.

Each path is compared between its state at the checkpoint (the before-side of its
first change after the checkpoint's watermark) and its current logged state (the
after-side of its last change): the disk is not read, so a diff works on a session
file copied anywhere. Folders are left out; binary files show as
``Binary files a/x and b/x differ``; mode changes as git prints them.

Example:
    >>> print(diff_since(session, 1))
    diff --git a/app.py b/app.py
    --- a/app.py
    +++ b/app.py
    @@ -1 +1 @@
    -x = 1
    +x = 2
"""

from __future__ import annotations

import difflib
import os
import stat
from typing import TYPE_CHECKING

from agentcli.agent.history.disk import UNREADABLE, Side, after_side, before_side
from agentcli.agent.history.rollback import find_checkpoint
from agentcli.agent.workspace.treewalk import is_folder_mode, is_link_mode

if TYPE_CHECKING:
    from agentcli.session.session import Session
    from agentcli.store.blobs import BlobStore

_SNIFF_BYTES = 8000  # git's window for telling binary content
# Bytes git quotes in a name, with the C escapes it writes for them.
_SPECIAL = frozenset(b'"\\')
_ESCAPES = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r",
            ord('"'): '\\"', ord("\\"): "\\\\"}


def diff_since(session: Session, checkpoint: int | None = None) -> str:
    """The diff from checkpoint ``checkpoint`` (default: the last prompt's) to now."""
    mark = find_checkpoint(session, checkpoint).last_file_change_id
    first: dict[str, Side] = {}
    last: dict[str, Side] = {}
    for change in session.files.since(mark):
        first.setdefault(change.path, before_side(change))
        last[change.path] = after_side(change)
    parts = []
    for path in sorted(first):
        old, new = _no_folder(first[path]), _no_folder(last[path])
        if not old.same(new):
            parts.append(file_diff(path, old, new, session.blobs))
    return "".join(parts)


def file_diff(path: str, old: Side, new: Side, blobs: BlobStore) -> str:
    """The git-style diff of one path between two states (names quoted as git quotes them)."""
    a, b = quote_name(f"a/{path}"), quote_name(f"b/{path}")
    head = [f"diff --git {a} {b}\n"]
    if old.absent:
        head.append(f"new file mode {_git_mode(new.mode)}\n")
    elif new.absent:
        head.append(f"deleted file mode {_git_mode(old.mode)}\n")
    elif old.mode != new.mode:
        head.append(f"old mode {_git_mode(old.mode)}\nnew mode {_git_mode(new.mode)}\n")
    if old.hash == new.hash:
        return "".join(head)
    before, after = _content(old, blobs), _content(new, blobs)
    name_a = "/dev/null" if old.absent else a
    name_b = "/dev/null" if new.absent else b
    if before is None or after is None:
        side, state = (a, old) if before is None else (b, new)
        why = ("unreadable when it was seen (permission denied)" if state.hash == UNREADABLE
               else "the file is over the size limit")
        return "".join(head) + f"({side}: content not stored, {why})\n"
    old_text, new_text = _text(before), _text(after)
    if old_text is None or new_text is None:
        return "".join(head) + f"Binary files {name_a} and {name_b} differ\n"
    lines = difflib.unified_diff(_lines(old_text), _lines(new_text), name_a, name_b)
    return "".join(head) + "".join(lines)


def quote_name(name: str) -> str:
    """``name`` as git writes it in a diff header: as is when plain, else C-style quoted.

    A name holding a newline, a control character, a quote, a backslash or a byte past
    ASCII is put in double quotes with C escapes (``\\n``, ``\\t``, ``\\"``, ``\\\\``) and
    octal for the rest, byte by byte of its UTF-8 — so no name can forge a header or a hunk.

    Example:
        >>> quote_name("a/new\\nname")
        '"a/new\\\\nname"'
    """
    raw = os.fsencode(name)
    if not any(byte < 0x20 or byte >= 0x7F or byte in _SPECIAL for byte in raw):
        return name
    out = []
    for byte in raw:
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif byte < 0x20 or byte >= 0x7F:
            out.append(f"\\{byte:03o}")
        else:
            out.append(chr(byte))
    return '"' + "".join(out) + '"'


def _no_folder(side: Side) -> Side:
    return Side() if is_folder_mode(side.mode) else side


def _content(side: Side, blobs: BlobStore) -> bytes | None:
    if side.absent or side.hash is None:
        return b""
    try:
        return blobs.get(side.hash)
    except KeyError:
        return None


def _text(data: bytes) -> str | None:
    if b"\0" in data[:_SNIFF_BYTES]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _lines(text: str) -> list[str]:
    if not text:
        return []
    lines = [line + "\n" for line in text.split("\n")]
    if text.endswith("\n"):
        lines.pop()
    else:
        lines[-1] += "\\ No newline at end of file\n"
    return lines


def _git_mode(mode: int | None) -> str:
    if mode is None:
        return "000000"
    if is_link_mode(mode):
        return "120000"
    return f"{stat.S_IFREG | stat.S_IMODE(mode):o}"
