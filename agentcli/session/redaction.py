"""Secrets never enter the session file: their values become ``***`` on the way in.

The session's table objects share one :class:`Redactor`; the interface tells it the
secrets of the run (the API key, credentials in the endpoint URL) before the session's
first write, and every text or JSON value written to the session file (meta, prompts,
transcript, tool journal, audit log, plan, grants, scouts, compactions) passes through it.
Besides those values, anything shaped like a well-known kind of key (:data:`KEY_SHAPES`:
``sk-...``, ``ghp_...``, ``AKIA...``) is replaced too, whoever's key it is.

A secret is caught as it is, and encoded the ways a command would print it: base64
(standard and URL-safe, at each of the three alignments it can have inside longer
data) and hex (lower and upper case), also when wrapped over lines (``base64`` wraps
at 76 columns, ``xxd -p`` at 60). Only the characters that depend on the secret alone
are matched, so the one or two characters at each end of an encoded secret, which
also carry bits of its neighbours, stay.

Example:
    >>> Redactor(["sk-test-0123456789"]).text("key c2stdGVzdC0wMTIzNDU2Nzg5 sk-test-0123456789")
    'key *** ***'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

REDACTED = "***"
_MIN_SECRET_CHARS = 6  # shorter values would redact ordinary words
_MIN_ENCODED_CHARS = 8  # encodings of shorter secrets are too short to tell from other text
_PROBE_CHARS = 12  # two probes of this length: a line break falls in at most one (lines >= 24)
_BREAK = "(?:\\r?\\n)?"

KEY_SHAPES = re.compile(
    # the lookahead lets the search skip most positions fast; the boundaries on both sides
    # (base64's + and / included) keep a shape found inside a longer run (a blob) out
    r"(?=[sgxAhnpr])(?<![A-Za-z0-9_+/-])(?:"
    r"sk-[A-Za-z0-9_-]{20,}"  # OpenAI (sk-proj-, sk-svcacct-), Anthropic (sk-ant-)
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}|glpat-[A-Za-z0-9_-]{20,}"  # GitHub, GitLab
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"  # Slack
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}"  # AWS access key ids, Google API keys
    r"|hf_[A-Za-z0-9]{30,}|npm_[A-Za-z0-9]{36}|pypi-AgE[A-Za-z0-9_-]{50,}"  # Hugging Face, npm, PyPI
    r"|[rs]k_(?:live|test)_[A-Za-z0-9]{20,}"  # Stripe
    r")(?![A-Za-z0-9+/])"
)
"""Keys recognisable by their shape: redacted wherever they appear, configured or not."""


@dataclass
class Redactor:
    """Replaces the values of secrets (and their encodings) with ``***`` in text and data."""

    secrets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # longest first, so a secret containing another is replaced whole
        self.secrets = sorted({s for s in self.secrets if s and len(s) >= _MIN_SECRET_CHARS},
                              key=len, reverse=True)
        forms = [form for secret in self.secrets if len(secret) >= _MIN_ENCODED_CHARS
                 for form in encoded_forms(secret)]
        self._forms = sorted(set(forms), key=len, reverse=True)
        self._probes = {form[i:i + _PROBE_CHARS] for form in self._forms for i in (0, _PROBE_CHARS)
                        if len(form) >= i + _PROBE_CHARS} | {form for form in self._forms
                                                            if len(form) < 2 * _PROBE_CHARS}
        self._wrapped = (re.compile("|".join(_BREAK.join(map(re.escape, form)) for form in self._forms))
                         if self._forms else None)

    def text(self, value: str) -> str:
        """``value`` with every secret replaced."""
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        for form in self._forms:
            if form in value:
                value = value.replace(form, REDACTED)
        if self._wrapped is not None and any(probe in value for probe in self._probes):
            value = self._wrapped.sub(REDACTED, value)
        return KEY_SHAPES.sub(REDACTED, value)

    def holds_secret(self, value: str) -> bool:
        """Whether ``value`` may hold a secret in any form (a quick test before parsing)."""
        return (any(s in value for s in self.secrets) or any(p in value for p in self._probes)
                or KEY_SHAPES.search(value) is not None)

    def data(self, value: Any) -> Any:
        """A JSON-able value with every string redacted (dict keys too)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, dict):
            return {self.text(k) if isinstance(k, str) else k: self.data(v) for k, v in value.items()}
        return value

    def set(self, secrets: list[str]) -> None:
        """Redact these values from now on (replacing the previous list)."""
        self.secrets = secrets
        self.__post_init__()


def encoded_forms(secret: str) -> list[str]:
    """The parts of ``secret``'s base64 (standard, URL-safe; three alignments) and hex
    (lower, upper) that depend on its bytes alone.

    Example:
        >>> encoded_forms("abcdefgh")[:3]
        ['YWJjZGVmZ2', 'FiY2RlZmdo', 'hYmNkZWZna']
    """
    import base64  # only once there is a secret to look for

    data = secret.encode("utf-8")
    forms = []
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for offset in range(3):
            text = encode(b"\0" * offset + data).decode("ascii").rstrip("=")
            text = text[(0, 2, 3)[offset]:]  # the first characters carry bits of what comes before
            if (offset + len(data)) % 3:
                text = text[:-1]  # the last one carries bits of what comes after
            forms.append(text)
    forms += [data.hex(), data.hex().upper()]
    return list(dict.fromkeys(forms))
