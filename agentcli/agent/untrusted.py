"""What a source the user did not write may set: a workspace's own ``agentcli.toml`` before
``agentcli trust``, and the settings recorded in a session file from somewhere else.

Every setting is one of three kinds:

- **needs trust** (:data:`TRUST_KEYS`): where the key and the transcript go, what runs
  unasked, what is spent or kept — ``base_url``, ``approval``, ``shell_env``, ``prices``,
  ``model``, ``scout_model``, ``max_file_bytes`` (a value of 1 turns rollback off). An
  untrusted source's value is ignored, with one warning naming it.
- **a limit** (:data:`LIMITS`): an untrusted source may only tighten it. Its value is used
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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentcli.agent.config import Settings

TRUST_KEYS = ("base_url", "approval", "shell_env", "prices", "model", "scout_model", "max_file_bytes")
"""Settings an untrusted source may not set at all."""

LIMITS = ("max_turns", "max_cost", "max_tokens", "scouts", "scout_steps", "scout_depth", "context_window",
          "shell_timeout", "max_attempts", "retry_max_wait", "idle_timeout", "attempt_deadline")
"""Settings an untrusted source may only lower (lower is tighter for each)."""


def without_trust_keys(layer: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``layer`` without the keys that need trust, and those keys as written."""
    refused = [key for key in layer if key.replace("-", "_") in TRUST_KEYS]
    return {k: v for k, v in layer.items() if k not in refused}, refused


def _looser(value: Any, own: Any) -> bool:
    """True when ``value`` allows more than ``own`` (None: no limit)."""
    if value is None:
        return own is not None
    return own is not None and value > own


def clamp_limits(settings: Settings, own: Settings, source: str) -> list[str]:
    """Undo every limit ``source`` raised above ``own`` (the settings without it).

    ``settings.sources`` says which values came from ``source``; each of those that allows
    more than the user's own value is set back to it. Returns a phrase per key undone,
    e.g. ``"max_turns = 1000 (yours: 100)"``.
    """
    undone = []
    for name in LIMITS:
        value, mine = getattr(settings, name), getattr(own, name)
        came_from = {settings.sources.get(name)}
        if name == "context_window":  # the window can come from the per-model table too
            came_from.add(settings.sources.get("context_windows"))
        if source in came_from and _looser(value, mine):
            setattr(settings, name, mine)
            if name in own.sources:
                settings.sources[name] = own.sources[name]
            else:
                settings.sources.pop(name, None)
            undone.append(f"{name} = {value} (yours: {'none' if mine is None else mine})")
    return undone
