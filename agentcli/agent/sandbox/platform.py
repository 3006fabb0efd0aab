"""The sandbox of this platform: bubblewrap on Linux; elsewhere a backend that says why not.

Example:
    >>> platform_backend().detect().ok
    True
"""

from __future__ import annotations

import sys

from agentcli.agent.sandbox.backend import SandboxBackend, Unsupported

_backend: SandboxBackend | None = None


def platform_backend() -> SandboxBackend:
    """The sandbox backend of this platform (one per process)."""
    global _backend
    if _backend is None:
        if sys.platform.startswith("linux"):
            from agentcli.agent.sandbox.bubblewrap import Bubblewrap

            _backend = Bubblewrap()
        elif sys.platform == "darwin":
            _backend = Unsupported("macOS", "the macOS sandbox (Seatbelt) is not built yet",
                                   "use --sandbox off to run shell commands unconfined")
        else:
            _backend = Unsupported(sys.platform, f"agentcli has no sandbox for {sys.platform}",
                                   "use --sandbox off to run shell commands unconfined")
    return _backend
