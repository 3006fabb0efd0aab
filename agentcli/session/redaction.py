"""Secrets never enter the session file: their exact values become ``***`` on the way in.

The session's table objects share one :class:`Redactor`; the interface tells it the
secrets of the run (the API key) and every text or JSON value written to the
transcript, the tool journal, the audit log or the prompt queue passes through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REDACTED = "***"
_MIN_SECRET_CHARS = 6  # shorter values would redact ordinary words


@dataclass
class Redactor:
    """Replaces the exact values of secrets with ``***`` in text and JSON-able data."""

    secrets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # longest first, so a secret containing another is replaced whole
        self.secrets = sorted({s for s in self.secrets if s and len(s) >= _MIN_SECRET_CHARS},
                              key=len, reverse=True)

    def text(self, value: str) -> str:
        """``value`` with every secret replaced."""
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value

    def data(self, value: Any) -> Any:
        """A JSON-able value with every string redacted (dict keys too)."""
        if not self.secrets:
            return value
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
