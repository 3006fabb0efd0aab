"""Session ids: short, unique, sortable by creation time, safe in a file name."""

from __future__ import annotations

import secrets
import time

# Crockford's base32, lower case: no i, l, o, u, so ids survive being read aloud.
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_TIME_CHARS = 9  # 32**9 ms is about 1,100 years from the epoch
_RANDOM_CHARS = 4


def _encode(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def new_id(now_ms: int | None = None) -> str:
    """Return a 13-character id: 9 characters of milliseconds, 4 of randomness.

    Example:
        >>> len(new_id())
        13
    """
    if now_ms is None:
        now_ms = time.time_ns() // 1_000_000
    return _encode(now_ms, _TIME_CHARS) + _encode(secrets.randbelow(32**_RANDOM_CHARS), _RANDOM_CHARS)


def looks_like_id(text: str) -> bool:
    """True when ``text`` could be an id or an id prefix (only id characters)."""
    return bool(text) and all(c in ALPHABET for c in text)
