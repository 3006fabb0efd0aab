"""agentcli as the reaper of last resort: nothing a command started outlives it.

The command supervisor ends what a command leaves behind and says so — unless the
command kills it first (``kill -9 $PPID``), or it could not tell (no ``/proc``). Then
agentcli itself makes sure, after that command:

- it is a *child subreaper* (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``): a process whose
  parent dies is re-parented to agentcli, not to init, so it stays findable;
- :func:`sweep` then SIGKILLs every process left in the command's session (the
  command supervisor's session: the shell runs in a process group inside it), every
  child re-parented to agentcli since the command started (the shell supervisor
  excepted), every process started since then
  that carries the supervisor's mark (``AGENTCLI_RUN``) in its environment (one that
  made a session of its own and was orphaned before agentcli became a subreaper), and
  all their descendants.

Elsewhere than Linux (no ``/proc``, no ``prctl``) both are harmless no-ops, and the
supervisor's own guarantees are all there is.

Example:
    >>> become_subreaper()
    >>> sweep(supervisor_pid, started=time.monotonic() - 2.0)
    [4242, 4243]
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass

_PR_SET_CHILD_SUBREAPER = 36
_PROC = "/proc"
_ROUNDS = 50  # rescans while processes fork as fast as they are killed
_TICK_MARGIN_S = 0.02  # start times tick in clock ticks (10 ms); never miss a process by rounding
RUN_MARK = "AGENTCLI_RUN"  # set by the supervisor to its pid in the command's environment
_lock = threading.Lock()
_subreaper: bool | None = None
_fork_hook_registered = False


@dataclass(frozen=True)
class _Proc:
    pid: int
    ppid: int
    session: int
    started_s: float  # seconds since boot (CLOCK_BOOTTIME)
    zombie: bool


def become_subreaper() -> bool:
    """Make this process a child subreaper (once); True when the kernel agreed.

    Orphaned descendants are then re-parented to agentcli, which can end them. A child
    of ``os.fork`` is not a subreaper: it asks the kernel again.
    """
    global _fork_hook_registered, _subreaper
    with _lock:
        if not _fork_hook_registered:
            os.register_at_fork(after_in_child=_forget_in_child)
            _fork_hook_registered = True
        if _subreaper is None:
            _subreaper = False
            with contextlib.suppress(Exception):  # not Linux, no libc: nothing to do
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                _subreaper = libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
        return _subreaper


def _forget_in_child() -> None:
    global _lock, _subreaper
    _lock = threading.Lock()  # another thread of the parent may have held it
    _subreaper = None
    _uncollected.clear()


_uncollected: set[int] = set()  # our re-parented children still running when last looked at


def collect(pids: Iterable[int] = ()) -> None:
    """Collect ``pids`` (children re-parented to us: a command supervisor whose supervisor
    died) once they have exited; one still running is looked at again on every later
    call, so none stays a zombie for the rest of the session. A pid that is not our
    child is left alone."""
    with _lock:
        pending = {*pids, *_uncollected}
        _uncollected.clear()
        for candidate in pending:
            try:
                done, _ = os.waitpid(candidate, os.WNOHANG)
            except ChildProcessError:  # not our child, or already collected
                continue
            if done == 0:
                _uncollected.add(candidate)


def sweep(command_session: int | None, started: float | None = None,
          spare: Collection[int] = ()) -> list[int]:
    """SIGKILL what a finished command left running; the pids ended.

    Args:
        command_session: the command supervisor's pid, which is the id of the session
            every process of the command runs in (unless it made a session of its own).
        started: ``time.monotonic()`` when the command started: children re-parented
            to agentcli that started since then (outside agentcli's own session) are
            the command's too.
        spare: pids never taken for the command's (with what only they started): the
            shell supervisor, other commands' supervisors.
    """
    become_subreaper()
    if not os.path.isdir(f"{_PROC}/self"):
        return []
    me, my_session = os.getpid(), os.getsid(0)
    since = None if started is None else _boot_seconds() - (time.monotonic() - started) - _TICK_MARGIN_S
    ended: list[int] = []
    for _round in range(_ROUNDS):
        table = _processes()
        roots = [p.pid for p in table.values() if p.session == command_session] if command_session else []
        recent = [p for p in table.values() if since is not None and p.started_s >= since and p.pid != me]
        roots += [p.pid for p in recent if p.ppid == me and p.session != my_session]
        if command_session is not None:  # left the session and orphaned before we were a subreaper
            roots += [p.pid for p in recent if _marked(p.pid, command_session)]
        victims = _with_descendants([pid for pid in roots if pid not in spare], table) - {me}
        if not any(not table[pid].zombie for pid in victims if pid in table):
            _reap(p.pid for p in table.values() if p.ppid == me and p.pid in victims)
            break
        _stop_then_kill(victims)
        ended += [pid for pid in victims if pid not in ended]
        _reap(p.pid for p in table.values() if p.ppid == me and p.pid in victims)
        time.sleep(0.005)
    return ended


def sweep_namespace(namespace: str, supervisor: int, command: int) -> list[int]:
    """SIGKILL what a command left running in a sandbox's pid namespace; the pids ended.

    Pids here are host pids: the sandbox's own (its init, ``supervisor``, everything
    they started) are seen from outside. Every process of ``namespace`` is ended but its
    init (the supervisor's parent), the ``supervisor`` and its other children (the
    command supervisors of other commands running now, with what they started):
    ``command``'s supervisor, whatever it left and whatever was re-parented to the init
    because its parent died.
    """
    if not os.path.isdir(f"{_PROC}/self"):
        return []
    ended: list[int] = []
    for _round in range(_ROUNDS):
        table = _processes()
        keep = {supervisor, table[supervisor].ppid} if supervisor in table else set()
        others = [p.pid for p in table.values() if p.ppid == supervisor and p.pid != command]
        spared = _with_descendants(others, table) | keep
        victims = {pid for pid in table if pid not in spared and _namespace(pid) == namespace}
        if not any(not table[pid].zombie for pid in victims):
            break
        _stop_then_kill(victims)
        ended += [pid for pid in victims if pid not in ended]
        time.sleep(0.005)
    return ended


def _namespace(pid: int) -> str | None:
    try:
        return os.readlink(f"{_PROC}/{pid}/ns/pid")
    except OSError:
        return None


def _stop_then_kill(pids: Collection[int]) -> None:
    """SIGSTOP them all, then SIGKILL them all.

    Killed one by one, a process could run on because another died first: a shell whose
    ``sleep`` is killed goes on to its next command before its own SIGKILL arrives (a
    loaded machine may pause us between the two). A stopped process runs nothing more.
    """
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)


def _with_descendants(roots: list[int], table: dict[int, _Proc]) -> set[int]:
    children: dict[int, list[int]] = {}
    for proc in table.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def _marked(pid: int, command_session: int) -> bool:
    """Whether the process carries the supervisor's mark of this command in its environment."""
    try:
        with open(f"{_PROC}/{pid}/environ", "rb") as environ:
            return f"{RUN_MARK}={command_session}".encode() in environ.read().split(b"\0")
    except OSError:
        return False


def _reap(pids: Iterable[int]) -> None:
    """Collect our own dead children (only those we killed: others belong to their owner)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


def _processes() -> dict[int, _Proc]:
    table = {}
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    uid = os.getuid()
    for entry in os.listdir(_PROC):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"{_PROC}/{entry}").st_uid != uid:
                continue  # not ours: we could not kill it anyway
            with open(f"{_PROC}/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue  # gone while we looked
        # after "pid (comm)": state ppid pgrp session ... starttime is the 20th field
        table[int(entry)] = _Proc(int(entry), int(fields[1]), int(fields[3]), int(fields[19]) / ticks,
                                  fields[0] in (b"Z", b"X"))
    return table


def _boot_seconds() -> float:
    try:  # /proc start times count from boot, suspend included
        return time.clock_gettime(time.CLOCK_BOOTTIME)
    except (AttributeError, OSError):
        return time.monotonic()
