"""How much text a prompt may bring in: piped stdin and ``@path`` mentions are read up to a cap.

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

from pathlib import Path

from agentcli.errors import UsageError

MAX_PROMPT_BYTES = 4 * 1024 * 1024
"""The most bytes of a prompt read from stdin (4 MiB): more is refused, never read."""
MAX_MENTION_BYTES = 200_000
"""The most bytes of one ``@path`` file attached to a prompt; a longer file is cut there."""
MAX_MENTIONS_BYTES = 1_000_000
"""The most bytes all the ``@path`` files of one prompt attach together; later ones are left out."""


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
