"""The prompt of a run: the argument, piped stdin, or both — and how much text it may bring in.

``git diff | agentcli new -p "review this"`` sends the prompt, then the piped text; ``-``
reads the prompt from stdin alone. A CI step whose stdin is an open pipe nobody writes to
must not hang: piped input counts only once it starts within :data:`STDIN_WAIT_SECONDS`.

``yes | agentcli new -p`` must not read for ever: stdin is read to at most
``MAX_PROMPT_BYTES`` and one byte more, and past the cap the run is refused with one line
(exit 2) before a session exists. A mentioned file is read to at most
``MAX_MENTION_BYTES`` and one byte more, and attached cut at the cap (the prompt says so);
all the files of one prompt together attach at most ``MAX_MENTIONS_BYTES``.

Example:
    >>> prompt_text(b"review this", "the prompt on stdin")
    'review this'
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agentcli.errors import UsageError

if TYPE_CHECKING:
    from agentcli.cli.options import RunOptions

MAX_PROMPT_BYTES = 4 * 1024 * 1024
"""The most bytes of a prompt read from stdin (4 MiB): more is refused, never read."""
MAX_MENTION_BYTES = 200_000
"""The most bytes of one ``@path`` file attached to a prompt; a longer file is cut there."""
MAX_MENTIONS_BYTES = 1_000_000
"""The most bytes all the ``@path`` files of one prompt attach together; later ones are left out."""



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
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:  # bytes, whatever the locale: at most the cap and one byte more
        data = buffer.read(MAX_PROMPT_BYTES + 1)
    else:  # a text stream of its own (embedding, tests)
        data = sys.stdin.read(MAX_PROMPT_BYTES + 1).encode("utf-8", "surrogateescape")
    return prompt_text(data, "the prompt on stdin")


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


def prompt_text(data: bytes, what: str) -> str:
    """``data`` (read up to the cap plus one byte) as the prompt's text.

    Raises:
        UsageError: ``data`` passed ``MAX_PROMPT_BYTES``, or it is not UTF-8.
    """
    if len(data) > MAX_PROMPT_BYTES:
        raise UsageError(f"{what} is longer than {MAX_PROMPT_BYTES:,} bytes (4 MiB), more than agentcli "
                         "reads: pass less, or put it in a workspace file and ask the agent to read it")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{what} is not UTF-8 text (byte {data[exc.start]:#04x} at offset "
                         f"{exc.start}); convert it first, e.g. with iconv -t UTF-8") from None


def read_head(path: Path, limit: int) -> bytes:
    """The first ``limit`` bytes of the file at ``path`` and one more, if it has them: never the
    whole of a file that may be huge."""
    with path.open("rb") as file:
        return file.read(limit + 1)
