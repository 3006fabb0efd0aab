"""One session's sandbox: the policy, whether a sandbox is available, the supervisor inside it.

A sandbox start costs more than a command (~17 ms for bwrap alone), so a session keeps
*one* sandbox: the long-lived shell supervisor runs inside it and forks each command
there, and the sandbox's private ``/tmp`` lasts from one command to the next. It is
started by the first command and ended by :meth:`ShellSandbox.close` (the session's
end), or by agentcli's death, whatever kills it. If the paths the policy protects
change (``git init`` made a ``.git``, an editor replaced ``agentcli.toml``), the next
command starts a sandbox that protects them as they are now, with a fresh ``/tmp``.

Example:
    >>> sandbox = shell_sandbox("workspace-write", False, Path("/repo"), [Path("/repo/.agentcli")])
    >>> run_command("touch /etc/x", Path("/repo"), timeout=10, supervisor=sandbox.supervisor()).output
    "touch: cannot touch '/etc/x': Read-only file system\\n"
    >>> sandbox.close()
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

from agentcli.agent.sandbox.backend import Availability, SandboxBackend
from agentcli.agent.sandbox.platform import platform_backend
from agentcli.agent.sandbox.policy import Confinement, SandboxPolicy, credential_paths
from agentcli.agent.tools.supervisor_client import Supervisor


class ShellSandbox:
    """The sandbox of one session's shell commands."""

    def __init__(self, policy: SandboxPolicy, backend: SandboxBackend | None = None):
        self.policy = policy
        self.backend = backend or platform_backend()
        self._lock = threading.Lock()
        self._running: tuple[tuple[SandboxPolicy, tuple[tuple[int, int], ...]], Supervisor] | None = None

    @property
    def mode(self) -> str:
        """``workspace-write``, ``read-only`` or ``off``."""
        return self.policy.mode

    def availability(self) -> Availability:
        """Whether this machine has a working sandbox (found once, cheaply after that)."""
        return self.backend.detect()

    def confinement(self, outside: bool = False, justification: str = "") -> Confinement:
        """How a call runs: in the sandbox, or unconfined (and then why)."""
        if not self.policy.confined:
            return Confinement("off")
        if outside:
            return Confinement("outside", justification=justification)
        found = self.availability()
        if not found.ok:
            return Confinement("unavailable", reason=found.detail)
        return Confinement(self.policy.mode)

    def supervisor(self) -> Supervisor:
        """The supervisor inside this session's sandbox (started by its first command)."""
        current = self.policy.present()
        key = (current, _identities(current))
        with self._lock:
            if self._running is not None and self._running[0] == key:
                return self._running[1]
            previous = self._running
            supervisor = Supervisor(lambda argv: self.backend.wrap(current, argv))
            self._running = (key, supervisor)
        if previous is not None:  # the protected paths changed: a sandbox that protects them
            previous[1].close()
        return supervisor

    def started_badly(self) -> None:
        """A sandbox that should have started did not: look for one again next time."""
        self.backend.forget()

    def environment(self, env: Mapping[str, str] | None) -> dict[str, str]:
        """The shell's environment inside: the same, but a ``TMPDIR`` points at the private /tmp."""
        inside = dict(os.environ if env is None else env)
        if "TMPDIR" in inside:
            inside["TMPDIR"] = "/tmp"
        return inside

    def note(self, output: str, exit_code: int | None) -> str | None:
        """What to tell the model when a command seems to have failed because of the sandbox."""
        from agentcli.agent.sandbox.notes import sandbox_note

        return sandbox_note(self.policy.present(), output, exit_code)

    def close(self) -> None:
        """End the sandbox (its private /tmp and whatever still runs in it)."""
        with self._lock:
            running, self._running = self._running, None
        if running is not None:
            running[1].close()


def _identities(policy: SandboxPolicy) -> tuple[tuple[int, int], ...]:
    """The files the sandbox mounts over, as inodes: one replaced since (an editor saving
    ``agentcli.toml`` by renaming over it) would no longer be covered by its mount."""
    found = []
    for path in (*policy.read_only, *policy.hidden):
        try:
            info = os.stat(path)
            found.append((info.st_dev, info.st_ino))
        except OSError:
            found.append((0, 0))
    return tuple(found)


def shell_sandbox(mode: str, network: bool, root: Path, read_only: Iterable[Path]) -> ShellSandbox:
    """A session's sandbox: ``root`` writable (in ``workspace-write`` mode) but its ``.git``,
    ``agentcli.toml`` and ``read_only`` (agentcli's own files); credentials hidden."""
    from agentcli.agent.user_config import user_config_path

    workspace = Path(os.path.realpath(root))
    protected = (workspace / ".git", workspace / "agentcli.toml", *read_only)
    policy = SandboxPolicy(mode, workspace, read_only=protected,
                           hidden=credential_paths(Path.home(), user_config_path().parent), network=network)
    return ShellSandbox(policy)
