"""The read-only tools' work: read a file, list files, search them. Text for the model.

Shared by ``read_file``, ``list_files`` and ``search`` (each module holds only its schema
and its checks): the three walk, filter and sniff files the same way. Every cap comes
from the :class:`ToolLimits` the tool was configured with.

Example:
    >>> print(read_text(ws, "app.py", offset=2, limit=1))
         2	import os
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

from agentcli.agent.cancel import NEVER, CancelToken
from agentcli.agent.errors import ToolError
from agentcli.agent.tools.base import DEFAULT_LIMITS, ToolLimits
from agentcli.agent.workspace.jail import Workspace
from agentcli.agent.workspace.walk import compile_glob, walk_files

if TYPE_CHECKING:
    import regex

_SNIFF_BYTES = 8192


def is_binary(data: bytes) -> bool:
    """Whether content looks binary (a NUL byte near the start, as git decides)."""
    return b"\x00" in data[:_SNIFF_BYTES]


def read_text(workspace: Workspace, path: str, offset: int = 1, limit: int | None = None,
              limits: ToolLimits = DEFAULT_LIMITS) -> str:
    """Lines ``offset`` .. ``offset+limit-1`` numbered like ``cat -n``, with a note if cut."""
    real = _existing(workspace, path)
    if real.is_dir():
        raise ToolError(f"{path!r} is a folder; use list_files to see what it holds.")
    try:
        data = read_regular(real, limits.read_byte_limit)
    except TooLargeError as exc:
        raise ToolError(
            f"{path!r} is too large to read ({exc.size} bytes); use search, or run_shell with "
            "head, tail or sed to see part of it."
        ) from None
    size = len(data)
    if is_binary(data):
        return f"{workspace.relative(real)} is a binary file ({size} bytes); not shown."
    lines = data.decode("utf-8", errors="replace").split("\n")
    if lines[-1] == "":
        lines.pop()  # the final newline ends the last line; it does not start a new one
    if not lines:
        return f"{workspace.relative(real)} is empty."
    if offset > len(lines):
        raise ToolError(f"offset {offset} is past the end of {path!r}, which has {len(lines)} lines.")
    limit = min(limit or limits.read_line_limit, limits.read_line_limit)
    cut_at = limits.line_char_limit
    out: list[str] = []
    used = 0
    last = offset - 1
    for number in range(offset, min(offset + limit, len(lines) + 1)):
        line = lines[number - 1].removesuffix("\r")
        if len(line) > cut_at:
            line = line[:cut_at] + f" [... line cut at {cut_at} characters]"
        entry = f"{number:>6}\t{line}"
        if out and used + len(entry) > limits.read_char_limit:
            break
        out.append(entry)
        used += len(entry) + 1
        last = number
    if last < len(lines):
        out.append(
            f"[showing lines {offset}-{last} of {len(lines)}; "
            f"read on with offset={last + 1}]"
        )
    return "\n".join(out)


def list_text(workspace: Workspace, path: str = ".", pattern: str | None = None,
              limits: ToolLimits = DEFAULT_LIMITS) -> str:
    """Sorted files under ``path`` (``.gitignore`` honoured), optionally matching ``pattern``."""
    real = _existing(workspace, path)
    base = workspace.relative(real)
    match = compile_glob(pattern) if pattern else None
    found: list[str] = []
    for file in walk_files(workspace, real):
        rel = workspace.relative(file)
        if match is None or match(rel) or (base != "." and match(_below(rel, base))):
            found.append(rel if _is_utf8(rel) else _escaped_name(rel))
    found.sort()
    if not found:
        where = "" if base == "." else f" under {base}"
        return f"No files found{where}" + (f" matching {pattern!r}." if pattern else ".")
    shown = found[:limits.list_limit]
    if len(found) > limits.list_limit:
        shown.append(
            f"[... {len(found) - limits.list_limit} more files not shown; "
            "narrow the listing with path or pattern]"
        )
    return "\n".join(shown)


def search_text(
    workspace: Workspace, pattern: str, path: str = ".", glob: str | None = None,
    limits: ToolLimits = DEFAULT_LIMITS, token: CancelToken = NEVER,
) -> str:
    """Lines matching the regular expression ``pattern``, as ``path:line: text``.

    The whole search gets ``limits.search_seconds``: a pattern that backtracks without
    end (``(a|aa)+$``) is stopped and reported, never left running. ``token`` is checked
    between lines (``Cancelled`` propagates).

    Raises:
        ToolError: an invalid pattern, or one too slow to finish within the time budget.
    """
    compiled = compile_regex(pattern)
    deadline = time.monotonic() + limits.search_seconds
    real = _existing(workspace, path)
    base = workspace.relative(real)
    match = compile_glob(glob) if glob else None
    hits: list[str] = []
    unnamed = 0
    for file in walk_files(workspace, real):
        rel = workspace.relative(file)
        if match is not None and not (match(rel) or (base != "." and match(_below(rel, base)))):
            continue
        if not _is_utf8(rel):
            unnamed += 1
            continue
        text = _searchable_text(workspace, rel, limits.search_file_bytes)
        if text is None:
            continue
        token.check()
        for number, line in enumerate(text.split("\n"), start=1):
            if not number % 1000:
                token.check()
            try:
                found = _search_line(compiled, line, deadline, token)
            except TimeoutError:
                raise ToolError(
                    f"pattern too slow: /{pattern}/ did not finish within {limits.search_seconds:g} s "
                    f"(stopped in {rel}, line {number}). Nested repetition such as (a+)+ or "
                    "(a|aa)+ backtracks without end; simplify the pattern or narrow path/glob."
                ) from None
            if found:
                if len(hits) == limits.search_match_limit:
                    hits.append(
                        f"[... stopped after {limits.search_match_limit} matches; narrow the search "
                        "with a more specific pattern, path or glob]"
                    )
                    return "\n".join(hits)
                hits.append(f"{rel}:{number}: "
                            f"{_clip(line.removesuffix(chr(13)), limits.search_line_chars)}")
    if unnamed:
        hits.append(f"[{unnamed} files whose names are not UTF-8 were not searched; "
                    "use run_shell with grep for them]")
    return "\n".join(hits) if hits else "No matches found."


def _search_line(compiled: regex.Pattern[str], line: str, deadline: float,
                 token: CancelToken) -> regex.Match[str] | None:
    """``compiled.search(line)`` by the deadline, the cancel token checked at least every second
    or so: a slow line is tried for 0.5 s, then again for twice as long, and so on."""
    slice_ = 0.5
    while (left := deadline - time.monotonic()) > 0:
        try:  # after the first try, the GIL is let go so a signal handler can set the token
            return compiled.search(line, timeout=min(left, slice_), concurrent=slice_ > 0.5)
        except TimeoutError:
            token.check()
            slice_ *= 2
    raise TimeoutError


def compile_regex(pattern: str) -> regex.Pattern[str]:
    """Compile a regular expression of Python's ``re`` syntax (``regex`` in its ``re``-compatible
    VERSION0, which can stop a match after a timeout); ``ToolError`` names any problem."""
    import regex  # ~10 ms to import: only when a search runs, not at every start

    try:
        return regex.compile(pattern, regex.VERSION0)
    except (regex.error, ValueError, OverflowError, RecursionError) as exc:
        raise ToolError(f"Invalid regular expression {pattern!r}: {exc}.") from None


class TooLargeError(ToolError):
    """A file over the size a tool reads; ``size`` is its size in bytes."""

    def __init__(self, path: Path, size: int):
        super().__init__(f"{path.name!r} is too large ({size} bytes).")
        self.size = size


def read_regular(real: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file at ``real`` (a resolved path), at most ``max_bytes``.

    Opened without following a symlink and without blocking (a FIFO would wait for a
    writer forever), checked on the open descriptor: a FIFO, device or socket is refused,
    and so is a file over ``max_bytes`` — before anything is read.

    Raises:
        ToolError: not a regular file; :class:`TooLargeError` when over ``max_bytes``.
        OSError: it cannot be opened.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(real, flags)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ToolError(f"{real.name!r} is a folder, not a file.")
        if not stat.S_ISREG(st.st_mode):
            raise ToolError(f"{real.name!r} is not a regular file (a FIFO, device or socket); "
                            "tools only read regular files.")
        if st.st_size > max_bytes:
            raise TooLargeError(real, st.st_size)
        chunks, left = [], max_bytes + 1  # one byte more tells a file that grew meanwhile
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise TooLargeError(real, len(data))
    return data


def refuse_special_or_large(workspace: Workspace, path: str, max_bytes: int, verb: str) -> None:
    """Refuse to ``verb`` an existing file that is not regular or is over ``max_bytes``:
    the file tools hold a file's whole content (and its before-image) in memory."""
    real = workspace.resolve(path)
    try:
        st = os.stat(real)
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISDIR(st.st_mode):
        return  # the tool says so in its own words
    if not stat.S_ISREG(st.st_mode):
        raise ToolError(f"{path!r} is not a regular file (a FIFO, device or socket); "
                        f"{verb} works on regular files only.")
    if st.st_size > max_bytes:
        raise ToolError(f"{path!r} is too large to {verb} ({st.st_size} bytes; the limit is "
                        f"{max_bytes}). Use run_shell (sed, patch, split) to change part of it.")


def _existing(workspace: Workspace, path: str) -> Path:
    real = workspace.resolve(path)
    if not real.exists():
        raise ToolError(f"No such file or folder: {path!r}. Use list_files to see what exists.")
    return real


def _below(rel: str, base: str) -> str:
    return rel[len(base) + 1 :] if rel.startswith(base + "/") else rel


def _searchable_text(workspace: Workspace, rel: str, max_bytes: int) -> str | None:
    try:
        real = workspace.resolve(rel)  # a symlink leading out is skipped, not followed
        data = read_regular(real, max_bytes)
    except (ToolError, OSError):  # too large, not a regular file, unreadable: not searched
        return None
    return None if is_binary(data) else data.decode("utf-8", errors="replace")


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _escaped_name(rel: str) -> str:
    """A file name that is not UTF-8, shown with its odd bytes escaped (``bad\\xff.txt``)."""
    shown = os.fsencode(rel).decode("utf-8", "backslashreplace")
    return f"{shown}  [name not UTF-8: only run_shell can open it]"


def _clip(line: str, chars: int) -> str:
    return line if len(line) <= chars else line[:chars] + " [...]"
