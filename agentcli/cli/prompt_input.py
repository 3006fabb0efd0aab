"""The prompt of a run: the argument, piped stdin, or both.

``git diff | agentcli new -p "review this"`` sends the prompt, then the piped text; ``-``
reads the prompt from stdin alone. A CI step whose stdin is an open pipe nobody writes to
must not hang: piped input counts only once it starts within :data:`STDIN_WAIT_SECONDS`.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from agentcli.errors import UsageError

if TYPE_CHECKING:
    from agentcli.cli.options import RunOptions


def read_prompt(options: RunOptions, *, required: bool) -> str | None:
    """The prompt text: the argument, stdin for ``-`` (or when stdin is not a terminal), or
    both: piped input is appended to a prompt argument (``git diff | agentcli new -p "review"``)."""
    text = options.prompt
    if text == "-":
        text = _stdin_text()
        if not text.strip():
            raise UsageError("the prompt read from stdin is empty")
    elif not options.interactive and not sys.stdin.isatty():
        if text is None:
            text = _stdin_text() or None  # piped input is the prompt; nothing piped is no prompt
        elif (piped := _piped_input()).strip():
            text = f"{text.rstrip()}\n\n{piped}"
    if text is not None and not text.strip():
        raise UsageError("the prompt is empty")
    if text is None and required and not options.interactive:
        raise UsageError("no prompt given: pass one as an argument, or '-' to read it from stdin")
    return text


def _stdin_text() -> str:
    try:
        text = sys.stdin.read()
        text.encode("utf-8")  # a C locale reads undecodable bytes as surrogates instead
        return text
    except UnicodeError as exc:
        data = exc.object if isinstance(exc.object, bytes) else exc.object.encode("utf-8", "surrogateescape")
        offset = exc.start if isinstance(exc.object, bytes) else len(exc.object[:exc.start].encode(
            "utf-8", "surrogateescape"))
        raise UsageError(f"the prompt on stdin is not UTF-8 text (byte {data[offset]:#04x} at offset "
                         f"{offset}); convert it first, e.g. with iconv -t UTF-8") from None


STDIN_WAIT_SECONDS = 2.0
"""How long a prompt argument waits for piped input to start: a CI step whose stdin is an
open pipe nobody writes to must not hang (input that has started is read to its end)."""


def _piped_input() -> str:
    """What is piped on stdin: everything, once it starts within ``STDIN_WAIT_SECONDS``."""
    import select

    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests, embedding): just read
        return _stdin_text()
    try:
        ready, _, _ = select.select([fd], [], [], STDIN_WAIT_SECONDS)
    except (OSError, ValueError):
        ready = [fd]
    return _stdin_text() if ready else ""
