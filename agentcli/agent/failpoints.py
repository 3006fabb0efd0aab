"""Named crash points for the crash tests: ``AGENTCLI_FAILPOINTS=tool.acted:2`` makes the
process ``SIGKILL`` itself the second time it passes ``tool.acted``.

This is how the tests kill agentcli at an exact instant (right after an answer was
recorded, between a side effect and its record...) rather than at a lucky moment.
Unset, a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

_ENV = "AGENTCLI_FAILPOINTS"
_counts: dict[str, int] = {}


def _armed() -> dict[str, int]:
    spec = os.environ.get(_ENV, "")
    armed = {}
    for item in spec.split(","):
        name, _, count = item.strip().partition(":")
        if name:
            armed[name] = int(count or 1)
    return armed


def failpoint(name: str) -> None:
    """Die here, by ``SIGKILL``, if this failpoint is armed and its count is reached."""
    if _ENV not in os.environ:
        return
    wanted = _armed().get(name)
    if wanted is None:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == wanted:
        os.kill(os.getpid(), signal.SIGKILL)
