"""Coloured unified diffs: of an edit about to be written, and of one already logged.

Example:
    >>> console.print(diff_text(edit_diff(FileEdit("a.py", b"x = 1\\n", b"x = 2\\n"))))
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from agentcli.cli.render.text import clean

if TYPE_CHECKING:
    from rich.text import Text

    from agentcli.agent.workspace.edits import FileEdit

NEW_FILE_LINES = 40  # a new file's content is shown up to this many lines
MAX_DIFF_LINES = 200  # a diff longer than this is cut, with a count of what was left out
_SNIFF = 8000


def _decoded(data: bytes | None) -> str | None:
    """Text of a file's bytes, or None when it looks binary."""
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
    before, after = _decoded(edit.before), _decoded(edit.after)
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


def diff_text(diff: str, *, max_lines: int = MAX_DIFF_LINES) -> Text:
    """A rich ``Text`` of a unified diff: additions green, removals red, hunks cyan."""
    from rich.text import Text

    out = Text()
    lines = clean(diff).splitlines()
    for line in lines[:max_lines]:
        if line.startswith(("+++", "---", "diff --git", "new file mode", "deleted file mode")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("…"):
            style = "dim"
        else:
            style = ""
        out.append(line + "\n", style=style)
    if len(lines) > max_lines:
        out.append(f"… {len(lines) - max_lines} more diff lines (/diff shows them all)\n", style="dim")
    out.rstrip()
    return out
