"""The single-writer lock: an OS-level ``flock`` that dies with its holder.

The kernel drops the lock when the holding process exits, however it exits
(``kill -9`` included), so a crashed session is never left locked. The lock file
also carries the holder's pid and start time, for the message a second writer sees.

The lock file exists only while it is held: the holder removes it as it lets go, so
a closed session leaves no ``.lock`` beside it (a killed holder leaves one, which the
next holder reuses and removes). Removing a lock file another process may be about to
lock is safe because a taker checks, once it holds the ``flock``, that the name still
leads to the file it locked, and starts again when it does not: two processes can never
both hold a lock, one on the removed file and one on a new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from agentcli.errors import SessionBusyError, SessionFileError
from agentcli.store.owned import NOFOLLOW

_TRIES = 20  # a lock file removed under a taker this many times in a row: call it busy


@dataclass(frozen=True)
class LockHolder:
    """Who holds a lock, as written by the holder when it took it."""

    pid: int | None
    started_at: float | None
    host: str | None

    def describe(self) -> str:
        """One human phrase: ``pid 123 since 2026-11-26 19:20:01``."""
        if self.pid is None:
            return "another process"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started_at or 0))
        return f"pid {self.pid} since {when}"


class WriterLock:
    """An exclusive, non-blocking lock on ``path`` (created 0600 when absent)."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self, what: str = "the session") -> None:
        """Take the lock at once or raise :class:`SessionBusyError` naming the holder
        (:class:`SessionFileError` when the lock file cannot be made or opened)."""
        for _ in range(_TRIES):
            fd = self._open(what)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                holder = read_holder(self.path)
                raise SessionBusyError(
                    f"{what} is busy: {holder.describe()} is driving it "
                    "(wait for it to finish, or stop that process)"
                ) from None
            if _still_named(fd, self.path):
                break
            os.close(fd)  # its holder removed it as we locked it: lock the file there now
        else:
            raise SessionBusyError(f"{what} is busy: its lock keeps changing hands (try again)")
        info = {"pid": os.getpid(), "started_at": time.time(), "host": socket.gethostname()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    def _open(self, what: str) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | NOFOLLOW, 0o600)
        except OSError as err:
            raise SessionFileError(
                f"cannot lock {what}: {self.path}: {err.strerror or err} (check the folder's permissions)"
            ) from None

    def release(self) -> None:
        """Let the lock go, and its file with it (removed while still held, then the
        descriptor closed, which drops the flock)."""
        if self._fd is not None:
            if _still_named(self._fd, self.path):
                with contextlib.suppress(OSError):
                    self.path.unlink()
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(path: Path) -> LockHolder:
    """Read what the holder wrote; tolerate a file caught half-written."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        info = {}
    return LockHolder(info.get("pid"), info.get("started_at"), info.get("host"))


def is_locked(path: Path) -> bool:
    """True when some process holds the lock on ``path`` right now (False when absent or
    unreadable: then nobody can be told apart, and a writer's own attempt decides)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (another user's counts: it cannot be signalled, but it is there)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _still_named(fd: int, path: Path) -> bool:
    """True when ``path`` still names the file open at ``fd`` (not removed or replaced)."""
    try:
        here, there = os.fstat(fd), os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)
