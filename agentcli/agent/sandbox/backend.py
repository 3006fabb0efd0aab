"""The interface a platform's sandbox implements, and the backend of this platform.

A backend answers two questions: is a sandbox available here (:meth:`SandboxBackend.detect`,
cheap after the first answer), and what command line runs a program confined by a
policy (:meth:`SandboxBackend.wrap`). agentcli runs its long-lived shell supervisor
through that command line, so every command the supervisor forks is confined.

Linux: bubblewrap (:mod:`.bubblewrap`). macOS would be Seatbelt: ``sandbox-exec -p
PROFILE`` with a profile generated from the same policy — ``(deny default)``, reads
allowed, ``(allow file-write*)`` under the workspace root and a per-session temporary
folder, ``(deny file-write*)`` on the read-only subpaths, ``(deny file-read*)`` on the
hidden ones, ``(deny network*)`` unless allowed; no pid namespace there, so the
supervisor's own process-group and subreaper sweep stays the guarantee. It is designed,
not built (it cannot be tested here): on macOS ``platform.platform_backend`` says so.

Example:
    >>> backend = platform_backend()  # agentcli.agent.sandbox.platform
    >>> backend.detect().ok
    True
    >>> backend.wrap(policy, ["python", "supervisor.py"])[:3]
    ['/usr/bin/bwrap', '--ro-bind', '/']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from agentcli.agent.sandbox.policy import SandboxPolicy


@dataclass(frozen=True)
class Availability:
    """Whether a sandbox can be used here: what it is, or why not and how to get one."""

    ok: bool
    backend: str  # "bubblewrap", or the platform's name when none is built for it
    detail: str  # "bwrap 0.8.0 at /usr/bin/bwrap", or why not
    fix: str = ""  # how to get one, when not ok

    def refusal(self) -> str:
        """Why there is no sandbox and how to get one, in one sentence."""
        return self.detail + (f": {self.fix}" if self.fix else "")


class SandboxBackend(Protocol):
    """A platform's sandbox."""

    name: str

    def detect(self) -> Availability:
        """Whether it works here; cheap after the first call in a process."""

    def forget(self) -> None:
        """Forget what :meth:`detect` found (a sandbox failed to start after all)."""

    def wrap(self, policy: SandboxPolicy, argv: list[str]) -> list[str]:
        """The command line that runs ``argv`` confined by ``policy`` (paths that exist now)."""


class Unsupported:
    """A platform with no sandbox backend built yet: never available."""

    def __init__(self, platform: str, detail: str, fix: str):
        self.name = platform
        self._availability = Availability(False, platform, detail, fix)

    def detect(self) -> Availability:
        """Never available."""
        return self._availability

    def forget(self) -> None:
        """Nothing to forget."""

    def wrap(self, policy: SandboxPolicy, argv: list[str]) -> list[str]:
        """Refuse: there is nothing to wrap with."""
        raise OSError(self._availability.refusal())
