"""A finished call's output, kept readable under its tool line: a few lines and "+N lines".

After ``run_shell`` the head of the output stays on screen (its tail when the command
failed: that is where it says why), a few lines each fitted to the width; after
``read_file``, ``search`` and ``list_files`` a shorter head. When there is more, a last
line says how much and how to see it whole (``/output N``, or Ctrl-O for the last one,
open the pager).
The text comes from the ``tool.finished`` event: its first and last characters
(``output``, ``output_tail``) and its line count (``output_lines``).

Example:
    >>> done = {"name": "run_shell", "status": "done", "exit_code": 0, "output_lines": 31}
    >>> print(preview({**done, "output": "1\\n2\\n...", "output_tail": "...29\\n30\\n[exit code: 0]"}, 3, 80))
      │ 1
      │ 2
      ...
      … +25 lines · /output 3 (Ctrl-O: the last)
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from agentcli.agent.engine.inspect import OUTPUT_TOOLS
from agentcli.cli.render.fit import fit_cells
from agentcli.cli.render.text import clean

if TYPE_CHECKING:
    from rich.text import Text

SHELL_LINES = 5  # lines of a command's output kept under its tool line
BRIEF_LINES = 3  # lines of a read, a search or a listing
# The status line run_shell adds after the output (the tool line says it already).
_SHELL_STATUS = re.compile(r"^\[(exit code: -?\d+|timed out after [^\]]*)\]( \[timeout capped at [^\]]*\])?$")
_GUTTER = "  │ "


def previewed(data: dict[str, Any]) -> bool:
    """Whether this finished call's output gets a preview and a number for ``/output``."""
    return data.get("name") in OUTPUT_TOOLS


def failed(data: dict[str, Any]) -> bool:
    """A call whose end matters most: an error, a non-zero exit code, a timeout."""
    return bool(data.get("is_error") or data.get("timed_out") or data.get("exit_code") not in (None, 0))


def preview(data: dict[str, Any], number: int, width: int) -> Text | None:
    """The lines kept under a finished call's tool line (None: nothing worth showing)."""
    from rich.text import Text

    shell = data.get("name") == "run_shell"
    status = data.get("status")
    if status in ("denied", "interrupted") or (not shell and (status != "done" or failed(data))):
        return None  # the tool line says why (a shell call's live tail shows what it did)
    head, tail, total = _text_lines(data, shell)
    if not total or (shell and head == ["(no output)"]):
        return None
    keep = SHELL_LINES if shell else BRIEF_LINES
    from_end = shell and failed(data)
    count = total if total <= keep + 1 else keep  # one more line costs what "+1 line" would
    shown = tail[-count:] if from_end else head[:count]
    hidden = max(total - len(shown), 0)
    lines = [_GUTTER + fit_cells(line, width - 1 - len(_GUTTER)) for line in shown]
    if hidden:
        hint = (f"  … +{hidden} line{'s' if hidden != 1 else ''}{' above' if from_end else ''} · "
                f"/output {number} (Ctrl-O: the last)")
        lines.insert(0 if from_end else len(lines), fit_cells(hint, width - 1))
    return Text("\n".join(lines), style="dim")


def _text_lines(data: dict[str, Any], shell: bool) -> tuple[list[str], list[str], int]:
    """The first lines, the last lines and how many lines the output has, the shell's own
    status line left out. Only the beginning and the end of a long output came with the
    event: the line each cuts in two is left out."""
    first = data.get("output") or ""
    if "output_tail" not in data:
        lines = _lines(first)
        if shell:
            lines = _without_status(lines)
        return lines, lines, len(lines)
    head = _lines(first)
    if not first.endswith("\n"):
        head = head[:-1]
    tail = _lines(data["output_tail"])[1:]
    total = int(data.get("output_lines") or len(head))
    if shell:
        kept = _without_status(tail)
        total -= len(tail) - len(kept)
        tail = kept
    return head, tail, total


def _without_status(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and _SHELL_STATUS.match(lines[end - 1].strip()):
        end -= 1
    return lines[:end]


def _lines(text: str) -> list[str]:
    """Lines as a terminal would show them: a carriage return's overwrite, tabs expanded."""
    lines = text.replace("\r\n", "\n").split("\n")
    if text.endswith("\n"):
        lines.pop()
    return [clean(line.rsplit("\r", 1)[-1].expandtabs(4)).rstrip() for line in lines]


__all__ = ["BRIEF_LINES", "SHELL_LINES", "failed", "preview", "previewed"]
