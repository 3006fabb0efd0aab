"""The Linux sandbox: bubblewrap (``bwrap``), found on ``PATH``.

:meth:`Bubblewrap.wrap` builds one ``bwrap`` command line from a policy. The order of
the mounts matters — a later one covers an earlier one:

1. the whole file system read-only (``--ro-bind / /``), a fresh ``/dev`` and ``/proc``
   (of the new pid namespace: agentcli's processes are not in it) with ``/proc/sys``
   read-only (a root user without capabilities could still write sysctls such as
   ``kernel.core_pattern``, which runs a program on the host), a private ``/tmp``;
2. agentcli's interpreter and supervisor again if they lived under ``/tmp`` or ``/dev``;
3. the workspace root, writable (or read-only in ``read-only`` mode) — after ``/dev``
   and ``/tmp``, which would otherwise hide a workspace under ``/dev/shm`` or ``/tmp``;
4. the read-only subpaths inside it (``.git``, ``.agentcli``, the session file...);
5. the hidden paths: an empty read-only tmpfs over a folder, ``/dev/null`` over a file.

Then new pid, IPC, UTS and (without network) network namespaces, no capabilities, and
``--die-with-parent``: the kernel kills the sandbox when agentcli dies.

Whether bwrap works at all (it may be missing, or user namespaces refused) is found
once: by one ``bwrap ... true`` whose answer is kept per boot in the user's cache
folder (keyed by the boot, the bwrap binary and the user), so a start after the first
costs a file read, not a sandbox.

Example:
    >>> Bubblewrap().wrap(SandboxPolicy("read-only", Path("/repo")), ["sh"])[-2:]
    ['--', 'sh']
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from agentcli.agent.sandbox.backend import Availability
from agentcli.agent.sandbox.policy import SandboxPolicy

INSTALL = ("install bubblewrap (Debian/Ubuntu: apt install bubblewrap; Fedora: dnf install bubblewrap; "
           "Arch: pacman -S bubblewrap), or pass --sandbox off to run shell commands unconfined")
REFUSED = ("the kernel may refuse user namespaces to unprivileged users (Debian: sysctl "
           "kernel.unprivileged_userns_clone=1; Ubuntu 24.04: an AppArmor profile that lets bwrap use them), "
           "or pass --sandbox off to run shell commands unconfined")
_PROBE_SECONDS = 10.0
_PROBE_VERSION = 2  # change when the flags probed change: cached answers of older flags are not used
_REPLACED = (Path("/tmp"), Path("/dev"))  # what the sandbox mounts anew: nothing of the host's shows
_BASE = ("--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys",
         "--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger")
_NAMESPACES = ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--cap-drop", "ALL")


class Bubblewrap:
    """The bubblewrap backend (:class:`~.backend.SandboxBackend`)."""

    name = "bubblewrap"

    def __init__(self) -> None:
        self._known: dict[tuple[Any, ...], Availability] = {}  # per bwrap binary, in this process

    def detect(self) -> Availability:
        """Whether bwrap is on PATH and starts a sandbox here (cached per boot)."""
        path = shutil.which("bwrap")
        if path is None:
            return Availability(False, self.name, "bubblewrap (bwrap) is not on PATH", INSTALL)
        key = _binary_key(path)
        known = self._known.get(key)
        if known is None:
            known = self._known[key] = _cached(key) or _probe(path, key)
        return known

    def forget(self) -> None:
        """Probe again next time (a sandbox that should have started did not)."""
        self._known.clear()
        _cache_file().unlink(missing_ok=True)

    def wrap(self, policy: SandboxPolicy, argv: list[str]) -> list[str]:
        """The ``bwrap`` command line that runs ``argv`` confined by ``policy``."""
        bwrap = shutil.which("bwrap") or "bwrap"
        root = Path(os.path.realpath(policy.root))
        args = [bwrap, *_BASE]
        if policy.private_tmp:
            args += ["--tmpfs", "/tmp"]
        for support in _support_paths(root):
            args += ["--ro-bind", str(support), str(support)]
        args += ["--bind" if policy.mode == "workspace-write" else "--ro-bind", str(root), str(root)]
        if policy.mode == "workspace-write":
            for path in policy.read_only:
                if _under(path, root) and path != root:
                    args += ["--ro-bind", str(path), str(path)]
        for path in policy.hidden:
            if _under(root, path) or (_replaced(path) and not _under(path, root)):
                continue  # hiding it would hide the workspace; or the fresh /tmp or /dev already does
            if path.is_dir():
                args += ["--tmpfs", str(path), "--remount-ro", str(path)]
            else:
                args += ["--ro-bind", "/dev/null", str(path)]
        args += [*_NAMESPACES, "--chdir", "/"]
        if not policy.network:
            args.append("--unshare-net")
        return [*args, "--", *argv]


def _support_paths(root: Path) -> list[Path]:
    """agentcli's interpreter, environment and supervisor, where the fresh /tmp or /dev would
    hide them (a CI job's virtual environment under /tmp): bound again, read-only."""
    from agentcli.agent.tools.supervisor_client import SUPERVISOR

    candidates = [sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable)),
                  str(SUPERVISOR.parent)]
    found: list[Path] = []
    for candidate in candidates:
        path = Path(os.path.realpath(candidate))
        if _replaced(path) and not _under(path, root) and not any(_under(path, f) for f in found):
            found = [f for f in found if not _under(f, path)] + [path]
    return found


def _replaced(path: Path) -> bool:
    return any(_under(path, top) for top in _REPLACED)


def _under(path: Path, top: Path) -> bool:
    return path == top or top in path.parents


def _binary_key(path: str) -> tuple[Any, ...]:
    real = os.path.realpath(path)
    try:
        stat = os.stat(real)
        stamp: tuple[Any, ...] = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = ()
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot = ""
    return (_PROBE_VERSION, boot, real, *stamp, os.getuid())


def _cache_file() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("agentcli")) / "sandbox.json"


def _cached(key: tuple[Any, ...]) -> Availability | None:
    """The answer of an earlier probe of this binary since this boot, if one was kept."""
    if not key[1]:
        return None  # no boot id: nothing says the answer still holds
    try:
        data = json.loads(_cache_file().read_text())
        if data.get("key") == list(key):
            return Availability(bool(data["ok"]), "bubblewrap", str(data["detail"]),
                                "" if data["ok"] else REFUSED)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _probe(path: str, key: tuple[Any, ...]) -> Availability:
    """Start one sandbox with the flags agentcli uses, running ``true``; keep the answer."""
    true = shutil.which("true") or "/bin/true"
    argv = [path, *_BASE, "--tmpfs", "/tmp", *_NAMESPACES, "--unshare-net", "--", os.path.realpath(true)]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=_PROBE_SECONDS)
        said = done.stderr.decode(errors="replace").strip().splitlines()
        ok = done.returncode == 0
        why = said[-1] if said else f"exit status {done.returncode}"
    except (OSError, subprocess.TimeoutExpired) as err:
        ok, why = False, str(err)
    detail = f"bwrap at {path}" if ok else f"bwrap at {path} cannot start a sandbox here ({why})"
    _keep(key, ok, detail)
    return Availability(ok, "bubblewrap", detail, "" if ok else REFUSED)


def _keep(key: tuple[Any, ...], ok: bool, detail: str) -> None:
    """Write the answer to the cache (best effort: a read-only home only costs a probe a start)."""
    try:
        cache = _cache_file()
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.with_name(f"{cache.name}.{os.getpid()}")
        temporary.write_text(json.dumps({"key": list(key), "ok": ok, "detail": detail}))
        os.replace(temporary, cache)
    except OSError:
        pass
