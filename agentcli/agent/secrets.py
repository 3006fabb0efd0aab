"""Keeping secrets out of the agent's reach: the shell's environment, and redaction.

Two walls. First, a shell command never gets the API key, any ``OPENAI_*`` variable, any
variable whose name looks secret (``*KEY*``, ``*SECRET*``, ``*TOKEN*``, ``*PASS*``…) or
whose value is a URL carrying credentials (``postgres://user:pw@db``): what ``printenv``
cannot see cannot reach the model, the session file or the events. The policy is the
``shell_env`` setting (``include`` re-allows names, ``exclude`` hides more), like
Codex's ``shell_environment_policy``. Second, the exact value of each secret is
replaced by ``***`` in everything agentcli stores or prints (the session's
:class:`~agentcli.session.redaction.Redactor`, and :func:`redacting` for events), so a
secret that leaks in another way (a file the agent reads) is still not written down.

Example:
    >>> shell_environment({"PATH": "/bin", "OPENAI_API_KEY": "sk-1", "GH_TOKEN": "t"})
    {'PATH': '/bin'}
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agentcli.agent.events import Event, EventSink
from agentcli.session.redaction import Redactor

SECRET_NAME_PATTERNS = ("*KEY*", "*SECRET*", "*TOKEN*", "*PASS*", "*PWD", "*CREDENTIAL*", "*AUTH*",
                        "*COOKIE*", "*SESSION_ID*", "*JWT*", "*DSN*", "*WEBHOOK*", "*PRIVATE*")
"""Variable names (case-insensitive globs) a shell command does not get unless included."""
NOT_SECRET_NAMES = frozenset({"PWD", "OLDPWD"})
"""Names a pattern matches that are not secrets (the shell's working folders)."""
ALWAYS_HIDDEN = ("OPENAI_*",)
"""Never given to a shell command, whatever ``include`` says: the key and its endpoint."""
_URL_CREDENTIALS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s@]*@")


@dataclass(frozen=True)
class ShellEnvPolicy:
    """Which of agentcli's variables a shell command gets.

    ``include``: names or globs given to commands even though they look secret;
    ``exclude``: more names or globs to hide. Matching ignores case.
    """

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def from_setting(cls, value: Any) -> ShellEnvPolicy:
        """Read the ``shell_env`` setting: a table with ``include`` / ``exclude`` lists.

        Raises:
            ValueError: the value has another shape (named in the message).
        """
        if value is None:
            return cls()
        if not isinstance(value, Mapping) or set(value) - {"include", "exclude"}:
            raise ValueError("shell_env must be a table with 'include' and/or 'exclude' lists of names")
        parts = {}
        for key in ("include", "exclude"):
            names = value.get(key, [])
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise ValueError(f"shell_env.{key} must be a list of variable names or globs")
            parts[key] = tuple(names)
        return cls(**parts)


def shell_environment(environ: Mapping[str, str], policy: ShellEnvPolicy = ShellEnvPolicy(),
                      always_hidden: Iterable[str] = ALWAYS_HIDDEN) -> dict[str, str]:
    """The environment a shell command runs with: ``environ`` less what looks secret.

    ``always_hidden`` (``OPENAI_*``: the key) is hidden whatever ``include`` says; a
    secret-looking name or a value holding a URL with credentials only unless included.
    """
    out = {}
    for name, value in environ.items():
        upper = name.upper()
        if _matches(upper, always_hidden) or _matches(upper, policy.exclude):
            continue
        if looks_secret(name, value) and not _matches(upper, policy.include):
            continue
        out[name] = value
    return out


def looks_secret(name: str, value: str) -> bool:
    """Whether a variable looks like it holds a secret: by its name, or by a URL with credentials.

    Example:
        >>> looks_secret("DATABASE_URL", "postgres://app:hunter2@db/app"), looks_secret("OLDPWD", "/tmp")
        (True, False)
    """
    upper = name.upper()
    if upper not in NOT_SECRET_NAMES and _matches(upper, SECRET_NAME_PATTERNS):
        return True
    return bool(_URL_CREDENTIALS.search(value))


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern.upper()) for pattern in patterns)


def redacting(sink: EventSink, redactor: Redactor) -> EventSink:
    """A sink that passes events on with every secret value replaced."""

    def emit(event: Event) -> None:
        sink(Event(event.type, redactor.data(event.data)))

    return emit
