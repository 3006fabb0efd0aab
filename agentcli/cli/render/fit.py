"""Tables that fit the terminal's width without cutting what identifies a row.

A terminal table has columns of three kinds: **essential** ones (an id, a status) are
always shown whole; **cut** ones (a task, an error, a title) are shortened with ``…``
down to a few cells when room runs out; the others (a time, a count) are shown whole or
not at all. When the table is too wide, the cut columns give way first, in their
``give`` order; when that is not enough, whole columns are left out in their ``drop``
order (the least needed first), until the table fits.
Widths are counted in terminal cells (a CJK character takes two).

Example:
    >>> columns = [Column("ID", essential=True), Column("TASK", cut=True), Column("STATUS", essential=True)]
    >>> print(fit_table(columns, [["scout-1", "find where the config is read", "running"]], 30).plain)
    ID      TASK               STATUS
    scout-1 find where the co… running
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from rich.text import Text

Cell = Union[str, "Text"]
GAP = 1  # cells between two columns


@dataclass(frozen=True)
class Column:
    """One column: its header and how it gives way when the table is too wide."""

    header: str
    essential: bool = False  # never cut, never left out (ids, statuses)
    cut: bool = False  # may be shortened with "…" down to ``least`` cells
    give: int = 0  # lower is cut first
    drop: int = 0  # lower is left out first, once cutting is not enough
    least: int = 8
    right: bool = False  # right-aligned (numbers)
    style: str = ""


def fit_widths(columns: Sequence[Column], natural: Sequence[int], width: int) -> list[int | None]:
    """Each column's width in a table of at most ``width`` cells (None: left out).

    Only essential columns are left when nothing else fits: the table is then as narrow as
    they allow, wider than ``width`` if they need it.
    """
    shown = list(range(len(columns)))
    order = sorted(shown, key=lambda i: columns[i].give)
    dropping = sorted(shown, key=lambda i: columns[i].drop)
    while True:
        widths = {i: natural[i] for i in shown}
        excess = sum(widths.values()) + GAP * (len(shown) - 1) - width
        for i in order:
            if excess <= 0:
                break
            if i in widths and columns[i].cut:
                take = min(excess, max(widths[i] - columns[i].least, 0))
                widths[i] -= take
                excess -= take
        droppable = [i for i in dropping if i in shown and not columns[i].essential]
        if excess <= 0 or not droppable:
            return [widths.get(i) for i in range(len(columns))]
        shown.remove(droppable[0])


def fit_table(columns: Sequence[Column], rows: Sequence[Sequence[Cell]], width: int, *,
              row_styles: Sequence[str | None] | None = None, header_style: str = "bold",
              indent: int = 0) -> Text:
    """The table as lines of at most ``width`` cells, ``indent`` of them blank at the left
    (see the module docstring). A column with nothing in any row is left out."""
    from rich.cells import cell_len
    from rich.text import Text

    cells = [[cell if isinstance(cell, Text) else Text(str(cell)) for cell in row] for row in rows]
    natural = [max([cell_len(c.header)] + [cell_len(row[i].plain) for row in cells])
               for i, c in enumerate(columns)]
    present = [i for i, column in enumerate(columns)
               if column.essential or any(row[i].plain.strip() for row in cells)]
    fitted = fit_widths([columns[i] for i in present], [natural[i] for i in present], width - indent)
    widths: list[int | None] = [None] * len(columns)
    for i, room in zip(present, fitted):
        widths[i] = room
    out = Text()
    lines = [([Text(c.header) for c in columns], header_style)]
    lines += [(row, (row_styles or [None] * len(cells))[n]) for n, row in enumerate(cells)]
    for index, (row, style) in enumerate(lines):
        line = Text(" " * indent, style=style or "")
        first = True
        for column, cell, room in zip(columns, row, widths):
            if room is None:
                continue
            if not first:
                line.append(" " * GAP)
            first = False
            piece = _fitted(cell, room)
            if column.style and index:
                piece.stylize(column.style, 0, len(piece))
            pad = " " * (room - cell_len(piece.plain))
            line.append_text(Text(pad) + piece if column.right else piece + Text(pad))
        line.rstrip()
        out.append_text(line)
        if index < len(lines) - 1:
            out.append("\n")
    return out


def fit_cells(text: str, width: int) -> str:
    """``text`` in at most ``width`` terminal cells, cut with "…"."""
    from rich.cells import cell_len, set_cell_size

    if cell_len(text) <= width:
        return text
    return set_cell_size(text, max(width - 1, 0)).rstrip(" ") + "…"


def _fitted(cell: Text, width: int) -> Text:
    from rich.cells import cell_len

    if cell_len(cell.plain) <= width:
        return cell.copy()
    cut = cell.copy()
    cut.truncate(max(width - 1, 0))
    while cell_len(cut.plain) > max(width - 1, 0):  # a wide character straddling the edge
        cut.right_crop(1)
    cut.rstrip()
    cut.append("…")
    return cut


__all__ = ["Column", "fit_cells", "fit_table", "fit_widths"]
