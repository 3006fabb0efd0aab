"""What a source the user did not write may set: a workspace's own ``agentcli.toml`` before
``agentcli trust``, and the settings recorded in a session file from somewhere else.

Every setting is one of three kinds:

- **needs trust** (:data:`TRUST_KEYS`): where the key and the transcript go, what runs
  unasked, what is spent or kept — ``base_url``, ``approval``, ``shell_env``, ``prices``,
  ``model``, ``scout_model``, ``max_file_bytes`` (a value of 1 turns rollback off),
  ``sandbox`` and ``network`` (a cloned repository must not let its commands out),
  ``mcp_config`` (nor start servers: its ``[mcp_servers]`` tables follow the same rule,
  in ``agent/mcp/config.py``), ``retention_days`` (nor delete the user's sessions). An
  untrusted source's value is ignored, with one warning naming it.
- **a limit** (:data:`LIMITS`, and each entry of a ``context_windows`` table): an
  untrusted source may only tighten it. Its value is used
  when it is below what the user's own layers (flags, environment, their config file,
  defaults) give; above, the user's value stands and a warning says so. "No limit"
  (``max_cost`` and ``max_tokens`` unset) is above everything.
- **free**: ``compact_at``, ``no_compact``, ``stream`` — how, not how much.

Example:
    >>> kept, refused = without_trust_keys({"model": "o1-pro", "max_turns": 5})
    >>> kept, refused
    ({'max_turns': 5}, ['model'])
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentcli.agent.config import Settings
    from agentcli.session.session import Session

TRUST_KEYS = ("base_url", "approval", "shell_env", "prices", "model", "scout_model", "max_file_bytes",
              "sandbox", "network", "mcp_config", "retention_days")
"""Settings an untrusted source may not set at all."""

LIMITS = ("max_turns", "max_cost", "max_tokens", "scouts", "scout_steps", "scout_depth", "context_window",
          "shell_timeout", "max_attempts", "retry_max_wait", "idle_timeout", "attempt_deadline")
"""Settings an untrusted source may only lower (lower is tighter for each)."""


def without_trust_keys(layer: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``layer`` without the keys that need trust, and those keys as written."""
    refused = sorted((key for key in layer if key.replace("-", "_") in TRUST_KEYS),
                     key=lambda key: TRUST_KEYS.index(key.replace("-", "_")))
    return {k: v for k, v in layer.items() if k not in refused}, refused


def _looser(value: Any, own: Any) -> bool:
    """True when ``value`` allows more than ``own`` (None: no limit). A value that is no
    number is left for the settings check to refuse, naming its file."""
    if own is None:
        return False
    try:
        return float(value) > float(own)
    except (TypeError, ValueError):
        return False


def tighten_only(layer: dict[str, Any], own: Settings,
                 window_of: Callable[[str], int]) -> tuple[dict[str, Any], list[str]]:
    """``layer`` without the limits it would raise above ``own`` (the user's own settings),
    and a phrase for each one dropped, e.g. ``"max_turns = 1000 (yours: 100)"``.

    ``window_of`` gives the user's own context window of a model, for the entries of a
    ``context_windows`` table."""
    kept, undone = dict(layer), []
    for key, value in layer.items():
        name = key.replace("-", "_")
        if name in LIMITS and _looser(value, getattr(own, name)):
            del kept[key]
            undone.append(f"{name} = {value} (yours: {getattr(own, name)})")
        elif name == "context_windows" and isinstance(value, dict):
            table = {model: tokens for model, tokens in value.items()
                     if not _looser(tokens, window_of(model))}
            undone += [f"context_windows.{model} = {tokens} (yours: {window_of(model)})"
                       for model, tokens in value.items() if model not in table]
            kept[key] = table
    return kept, undone


@dataclass(frozen=True)
class SessionOrigin:
    """Whether the settings a session file recorded may be taken as the user's own.

    A file this user owns, in the sessions folder in use (where agentcli itself creates
    them), or one they named with ``agentcli trust FILE``, is trusted. Anything else — a
    file given by path from elsewhere, a CI artifact, a session left in a repository's old
    ``./sessions`` folder — is treated like an untrusted ``agentcli.toml``: what it
    recorded that needs trust is not used, its limits only tighten, its "always allow"
    grants and its recorded workspace are not adopted.
    """

    trusted: bool
    path: Path
    why: str = ""

    def layer(self, remembered: dict[str, Any] | None,
              given: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
        """``resolve_settings``'s ``untrusted`` argument: what the file recorded, without
        what the command line gives anyway or left unset."""
        values = {k: v for k, v in (remembered or {}).items() if v is not None and k not in given}
        return str(self.path), values, self.why

    def withhold(self, session: Session, recorded: Path | None, root: Path) -> str | None:
        """For a file not trusted: stop using its recorded "always allow" grants, and say
        so (and that its ``recorded`` workspace is not adopted: None when ``-C`` chose the
        workspace anyway). None when nothing is withheld."""
        if self.trusted:
            return None
        grants = session.grants.ignore_recorded()
        left = ([f"its {grants} 'always allow' grant{'s' if grants > 1 else ''}"] if grants else []) + (
            [f"its workspace {recorded} (working in {root}; -C chooses)"]
            if recorded is not None and recorded != root else [])
        if not left:
            return None
        return f"{self.path}: not using {' or '.join(left)}: {self.why.split(';', 1)[0]}"


def session_origin(path: Path, sessions_dir: Path) -> SessionOrigin:
    """Decide whether ``path`` (a session file about to be resumed) is the user's own."""
    from agentcli.agent.config import is_trusted

    real = path.resolve()
    folder = sessions_dir.resolve()
    try:
        mine = real.stat().st_uid == os.geteuid()
    except OSError:
        mine = False
    if (mine and real.parent == folder) or is_trusted(real):
        return SessionOrigin(True, path)
    return SessionOrigin(False, path, (
        f"this session file was not created by you in this workspace's sessions folder ({folder}); "
        f"--base-url, --approval and --model choose them, or agentcli trust {path} uses what it recorded"))
