"""What a run says about its sandbox when it starts, and when it refuses to start.

- ``full-auto`` without a usable sandbox refuses to start (exit 2, one line naming
  ``bubblewrap`` and ``--sandbox off``): nobody would be asked before a command that
  can touch anything runs.
- ``--sandbox off`` is never silent: the ``session.started`` event says it, and so does
  the startup line drawn from it.
- In ``ask`` and ``auto-edit`` a missing sandbox is a warning: every command is asked,
  marked unsandboxed.

Example:
    >>> require_sandbox(settings)   # raises UsageError for full-auto on a machine without bwrap
    >>> sandbox_fields(settings)
    {'sandbox': 'workspace-write', 'network': False}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentcli.errors import UsageError

if TYPE_CHECKING:
    from agentcli.agent.config import Settings


def require_sandbox(settings: Settings) -> None:
    """Refuse a ``full-auto`` run whose sandbox cannot be had here (UsageError, exit 2)."""
    if settings.approval != "full-auto" or settings.sandbox == "off":
        return
    from agentcli.agent.sandbox.platform import platform_backend

    found = platform_backend().detect()
    if not found.ok:
        raise UsageError(f"--approval full-auto runs every shell command unasked, so it needs a sandbox, "
                         f"and there is none: {found.detail}. Install bubblewrap (apt install bubblewrap), "
                         "or pass --sandbox off to run shell commands unconfined")


def sandbox_fields(settings: Settings) -> dict[str, Any]:
    """The sandbox as ``session.started`` tells it: the mode, the network, and when the mode
    is not ``off`` but no sandbox is available here, why (``sandbox_unavailable``)."""
    fields: dict[str, Any] = {"sandbox": settings.sandbox, "network": settings.network}
    if settings.sandbox != "off":
        from agentcli.agent.sandbox.platform import platform_backend

        found = platform_backend().detect()
        if not found.ok:
            fields["sandbox_unavailable"] = found.detail
    return fields


def startup_line(data: dict[str, Any]) -> str | None:
    """The words about the sandbox for a ``session.started`` event's line, None when it is the
    default (on, no network)."""
    if data.get("sandbox") == "off":
        return "sandbox off: shell commands run unconfined (--sandbox off)"
    if data.get("sandbox_unavailable"):
        return (f"no sandbox here ({data['sandbox_unavailable']}): every shell command is asked, "
                "unsandboxed (agentcli doctor says how to get one)")
    words = []
    if data.get("sandbox") == "read-only":
        words.append("sandbox read-only")
    if data.get("network"):
        words.append("network on")
    return ", ".join(words) or None
