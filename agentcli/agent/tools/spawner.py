"""Starting a process from a thread that lives as long as agentcli does.

Linux's parent-death signal (``PR_SET_PDEATHSIG``, which ``bwrap --die-with-parent``
sets) fires when the *thread* that started a process ends, not the process. agentcli
runs each turn on a thread of its own, so a sandbox started there would be killed at
the end of the turn, its private ``/tmp`` with it. :func:`spawn_lasting` hands the
``Popen`` to one daemon thread that never ends: the signal then fires only when
agentcli itself dies (however it dies, SIGKILL included).

Example:
    >>> process = spawn_lasting(["bwrap", "--die-with-parent", "--", "sleep", "9"])
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from concurrent.futures import Future
from typing import Any

_Job = tuple[list[str], dict[str, Any], "Future[subprocess.Popen[bytes]]"]
_lock = threading.Lock()
_jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
_owner = 0  # the pid whose thread serves the queue: a forked child starts its own


def spawn_lasting(argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **popen)``, started from agentcli's lasting thread."""
    global _jobs, _owner
    with _lock:
        if _owner != os.getpid():
            if not _owner:
                os.register_at_fork(after_in_child=_forget_in_child)
            _jobs = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(_jobs,), name="agentcli-starter", daemon=True).start()
            _owner = os.getpid()
        jobs = _jobs
    done: Future[subprocess.Popen[bytes]] = Future()
    jobs.put((argv, popen, done))
    return done.result()


def _forget_in_child() -> None:
    global _lock
    _lock = threading.Lock()  # another thread of the parent may have held it


def _serve(jobs: queue.SimpleQueue[_Job]) -> None:
    while True:
        argv, popen, done = jobs.get()
        try:
            done.set_result(subprocess.Popen(argv, **popen))
        except BaseException as exc:  # the caller's to handle, in its own thread
            done.set_exception(exc)
