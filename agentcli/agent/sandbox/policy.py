"""What a sandboxed shell command may touch: :class:`SandboxPolicy`, and how one call runs.

The policy is plain data, the same for every backend: the writable root (the workspace,
or nothing in ``read-only`` mode) with read-only subpaths inside it (``.git``,
agentcli's own files), paths hidden altogether (credentials), whether the network is
reachable, and a private ``/tmp``. :meth:`SandboxPolicy.present` keeps only the paths
that exist now: a backend can only mount over what is there.

Example:
    >>> policy = SandboxPolicy("workspace-write", Path("/repo"), read_only=(Path("/repo/.git"),))
    >>> policy.describe()
    'it can write only inside /repo (but .git) and in a private /tmp, and it has no network'
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

SANDBOX_MODES = ("workspace-write", "read-only", "off")
"""``--sandbox``: the workspace writable (default), nothing writable but /tmp, or no sandbox."""

UNCONFINED = ("off", "outside", "unavailable")
"""How a call may run without a sandbox: the session has none (``--sandbox off``), the call
asked to run outside it (``sandbox: false``), or none is available on this machine."""

CREDENTIAL_PATHS = (
    ".ssh", ".aws", ".gnupg", ".config/gcloud", ".azure", ".kube", ".docker", ".netrc", ".npmrc",
    ".pypirc", ".git-credentials", ".config/git/credentials", ".config/gh", ".config/hub",
    ".cargo/credentials", ".cargo/credentials.toml", ".gem/credentials", ".pgpass",
    ".terraform.d/credentials.tfrc.json", ".password-store", ".local/share/keyrings",
)
"""Under the home folder: hidden from every sandboxed command (SPEC §2b names the first eleven)."""

SERVICE_SOCKETS = ("/run/user", "/var/run/docker.sock", "/var/run/dbus", "/var/lib/docker.sock")
"""Beside every socket found under ``/run`` (:func:`service_sockets`): the users' runtime
folders (their agents and session buses) and where a system keeps others."""
_SOCKET_WALK_LIMIT = 5000  # entries of /run looked at, at most


@dataclass(frozen=True)
class SandboxPolicy:
    """What commands in the sandbox may touch; paths are absolute and resolved."""

    mode: str  # one of SANDBOX_MODES
    root: Path  # the workspace: writable in workspace-write mode, readable in read-only mode
    read_only: tuple[Path, ...] = ()  # inside the root, never writable
    hidden: tuple[Path, ...] = ()  # credential folders and files: empty, or /dev/null
    network: bool = False
    private_tmp: bool = True  # a /tmp of the sandbox's own, gone with it

    @property
    def confined(self) -> bool:
        """Whether commands run in a sandbox at all."""
        return self.mode != "off"

    def present(self) -> SandboxPolicy:
        """The same policy with only the read-only and hidden paths that exist now (resolved)."""
        return replace(self, read_only=_existing(self.read_only), hidden=_existing(self.hidden))

    def describe(self) -> str:
        """What a command may do, in words (for the model and for people)."""
        if not self.confined:
            return "it runs without a sandbox: it can touch anything you can"
        if self.mode == "read-only":
            writes = "it can write nothing but a private /tmp"
        else:
            inside = self.root.resolve()
            kept = [_relative(path, inside) for path in _outermost(self.read_only) if _inside(path, inside)]
            but = f" (but {', '.join(kept)})" if kept else ""
            writes = f"it can write only inside {inside}{but} and in a private /tmp"
        return writes + (", and it may use the network" if self.network else ", and it has no network")


@dataclass(frozen=True)
class Confinement:
    """How one shell call runs: ``mode`` is a sandbox mode or one of :data:`UNCONFINED`."""

    mode: str
    justification: str = ""  # why the model asked to run outside the sandbox
    reason: str = ""  # "unavailable": why there is no sandbox here

    @property
    def confined(self) -> bool:
        """Whether the call runs in a sandbox."""
        return self.mode not in UNCONFINED

    @property
    def always_asked(self) -> bool:
        """Whether nothing but a person's yes may run it: outside the session's sandbox."""
        return self.mode in ("outside", "unavailable")


def credential_paths(home: Path, config_dir: Path | None = None) -> tuple[Path, ...]:
    """The credential paths under ``home``, agentcli's own config folder, the user's runtime
    folder of sockets (``$XDG_RUNTIME_DIR``: agents, the session bus) and service sockets."""
    paths = [home / name for name in CREDENTIAL_PATHS]
    if config_dir is not None:
        paths.append(config_dir)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        paths.append(Path(runtime))
    return (*paths, *(Path(socket) for socket in SERVICE_SOCKETS), *service_sockets())


def service_sockets(top: Path = Path("/run")) -> tuple[Path, ...]:
    """Every Unix socket under ``top`` (not in ``/run/user``, hidden whole): a socket can be
    reached through a read-only mount and from a namespace without network, and one of a
    service running as root (a container engine, snapd, libvirt, the system bus) would let a
    command act outside the sandbox."""
    found: list[Path] = []
    seen = 0
    todo = [str(top)]
    while todo and seen < _SOCKET_WALK_LIMIT:
        folder = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if stat.S_ISSOCK(mode):
                found.append(Path(entry.path))
            elif stat.S_ISDIR(mode) and entry.path != "/run/user":
                todo.append(entry.path)
    return tuple(sorted(found))


def _existing(paths: Iterable[Path]) -> tuple[Path, ...]:
    found: list[Path] = []
    for path in paths:
        if os.path.lexists(path):
            real = Path(os.path.realpath(path))
            if real not in found and os.path.exists(real):
                found.append(real)
    return tuple(found)


def _outermost(paths: Iterable[Path]) -> list[Path]:
    """``paths`` without those inside another of them, in order."""
    listed = list(paths)
    return [p for p in listed if not any(_inside(p, other) for other in listed if other != p)]


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return path != root


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
