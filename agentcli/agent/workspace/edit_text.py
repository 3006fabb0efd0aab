"""How an edit reads: the unified diff of exactly the bytes it writes, and its text sides.

An approval question and an applied edit's event carry this, so every client (the
terminal, the editor protocol, ``--json``) shows the same diff without reading storage.

Example:
    >>> print(edit_diff(FileEdit("a.py", b"x = 1\\n", b"x = 2\\n")))
    --- a/a.py
    +++ b/a.py
    @@ -1 +1 @@
    -x = 1
    +x = 2
"""

from __future__ import annotations

import difflib
from typing import Any

from agentcli.agent.workspace.edits import FileEdit

NEW_FILE_LINES = 40  # a new file's content is shown up to this many lines
TEXT_SIDE_BYTES = 1_000_000  # larger sides are left out of an edit's description (its diff stays)
_SNIFF = 8000


def text_of(data: bytes | None) -> str | None:
    """The text of a file's bytes ("" for no file), or None when they look binary."""
    if data is None:
        return ""
    if b"\0" in data[:_SNIFF]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def edit_diff(edit: FileEdit, *, new_file_lines: int = NEW_FILE_LINES) -> str:
    """The unified diff of exactly what ``edit`` writes; a new file shows its first lines."""
    before, after = text_of(edit.before), text_of(edit.after)
    head = f"--- {'/dev/null' if edit.before is None else 'a/' + edit.path}\n" \
           f"+++ {'/dev/null' if edit.after is None else 'b/' + edit.path}\n"
    if edit.op == "mode":
        return head + f"mode {oct(edit.before_mode or 0)} → {oct(edit.after_mode or 0)}\n"
    if before is None or after is None:
        size = len(edit.after or b"")
        return head + f"binary file: {size} bytes\n"
    if edit.before is None:
        lines = after.splitlines()
        shown = [f"+{line}\n" for line in lines[:new_file_lines]]
        more = len(lines) - new_file_lines
        tail = [f"… {more} more line{'s' if more != 1 else ''} ({len(lines)} in all)\n"] if more > 0 else []
        return head + f"@@ new file, {len(lines)} line{'s' if len(lines) != 1 else ''} @@\n" \
            + "".join(shown + tail)
    body = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=3)
    lines = [line + "\n" for line in list(body)[2:]]  # our own header above
    return head + "".join(lines) if lines else head + "(no change in content)\n"


def diff_stats(diff: str) -> tuple[int, int]:
    """Lines added and removed in a unified diff."""
    added = removed = 0
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            added += 1
        elif line.startswith("-") and not line.startswith("---"):
            removed += 1
    return added, removed


def describe_edit(edit: FileEdit) -> dict[str, Any]:
    """An edit as an event carries it: path, op, diff, lines added and removed (a new file:
    all its lines, though its diff shows the first :data:`NEW_FILE_LINES`), and the whole
    text before and after (None when binary or over :data:`TEXT_SIDE_BYTES`)."""
    diff = edit_diff(edit)
    added, removed = diff_stats(diff)
    created = text_of(edit.after) if edit.before is None and edit.op != "mode" else None
    if created:
        added = len(created.splitlines())

    def side(data: bytes | None) -> str | None:
        return None if data is not None and len(data) > TEXT_SIDE_BYTES else text_of(data)

    return {"path": edit.path, "op": edit.op, "diff": diff, "added": added, "removed": removed,
            "old_text": side(edit.before), "new_text": side(edit.after)}
