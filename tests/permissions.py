"""Run agentcli as root without root's power over file permissions.

The tests run as root here, and root reads and writes a 0400 or 000 file as if it were
0600. A child whose capability bounding set lacks ``CAP_DAC_OVERRIDE`` and
``CAP_DAC_READ_SEARCH`` meets the permission bits like any user (it stays uid 0, so it
can still run the interpreter under ``/root``). Where the bounding set cannot be
changed (no ``CAP_SETPCAP``, not Linux) the permission tests are skipped.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import pytest
from agent_harness import Run

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2


def _drop_file_powers() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _can_drop() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        done = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_drop_file_powers, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


needs_permission_bits = pytest.mark.skipif(
    os.geteuid() == 0 and not _can_drop(),
    reason="running as root without CAP_SETPCAP: permission bits cannot be made to bind",
)


def agentcli_bound(args: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 60) -> Run:
    """Run ``python -m agentcli ARGS`` in a process that obeys permission bits."""
    preexec = _drop_file_powers if os.geteuid() == 0 else None
    done = subprocess.run([sys.executable, "-m", "agentcli", *args], cwd=cwd, env=env, input="",
                          capture_output=True, text=True, timeout=timeout, preexec_fn=preexec)
    return Run(done.returncode, done.stdout, done.stderr)
