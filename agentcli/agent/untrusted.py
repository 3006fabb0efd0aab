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

from collections.abc import Callable
from typing import Any

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


def tighten_only(layer: dict[str, Any], own: Any,
                 window_of: Callable[[str], int]) -> tuple[dict[str, Any], list[str]]:
    """``layer`` without the limits it would raise above ``own`` (the user's own ``Settings``),
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
