"""Keeping secrets out of the agent's reach: the shell's environment, and redaction.

Two walls. First, a shell command never gets the API key or any variable whose name
looks secret (``*KEY*``, ``*SECRET*``, ``*TOKEN*``, ``*PASSWORD*``…): what ``printenv``
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agentcli.agent.events import Event, EventSink
from agentcli.session.redaction import Redactor

SECRET_NAME_PATTERNS = ("*KEY*", "*SECRET*", "*TOKEN*", "*PASSWORD*", "*PASSWD*", "*CREDENTIAL*",
                        "*AUTH*", "*COOKIE*", "*SESSION_ID*")
"""Variable names (case-insensitive globs) a shell command does not get unless included."""



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
                      always_hidden: Iterable[str] = ("OPENAI_API_KEY",)) -> dict[str, str]:
    """The environment a shell command runs with: ``environ`` less the secret-looking names.

    ``always_hidden`` (the API key) is hidden whatever ``include`` says.
    """
    hidden = {name.upper() for name in always_hidden}
    out = {}
    for name, value in environ.items():
        upper = name.upper()
        if upper in hidden or _matches(upper, policy.exclude):
            continue
        if _matches(upper, SECRET_NAME_PATTERNS) and not _matches(upper, policy.include):
            continue
        out[name] = value
    return out


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern.upper()) for pattern in patterns)


def redacting(sink: EventSink, redactor: Redactor) -> EventSink:
    """A sink that passes events on with every secret value replaced."""

    def emit(event: Event) -> None:
        sink(Event(event.type, redactor.data(event.data)) if redactor.secrets else event)

    return emit
