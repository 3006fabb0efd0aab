"""Coloured unified diffs (an edit's diff itself comes from ``agent/workspace/edit_text.py``).

Example:
    >>> console.print(diff_text(edit_diff(FileEdit("a.py", b"x = 1\\n", b"x = 2\\n"))))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentcli.agent.workspace.edit_text import diff_stats, edit_diff
from agentcli.cli.render.text import clean

if TYPE_CHECKING:
    from rich.text import Text

MAX_DIFF_LINES = 200  # a diff longer than this is cut, with a count of what was left out


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


__all__ = ["diff_stats", "diff_text", "edit_diff"]
