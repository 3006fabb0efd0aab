"""Files and folders that must be this user's own, and writing them without following links.

What agentcli keeps (its state folder, session files, the lock and history files) is
trusted only when it could not have been put there by someone else: owned by this
process's user, writable by nobody else, and not a symbolic link. Files there are
opened with ``O_NOFOLLOW`` and replaced atomically (a temporary name, then a rename that
replaces a link rather than writing through it).

Example:
    >>> not_own(Path("/tmp").stat())
    'is writable by other users (mode 1777)'
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from pathlib import Path

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def not_own(st: os.stat_result) -> str | None:
    """Why a file or folder is not this user's own, as a phrase ("belongs to another user
    (uid 1001)", "is writable by other users (mode 0775)"); None when it is."""
    if st.st_uid != os.geteuid():
        return f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & OTHERS_WRITE and not stat.S_ISLNK(st.st_mode):
        return f"is writable by other users (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def lstat_or_none(path: Path) -> os.stat_result | None:
    """``os.lstat`` (a symlink itself, not what it points to), or None when nothing is there."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def read_small(path: Path, limit: int = 4096) -> bytes | None:
    """The first ``limit`` bytes of a regular file, never through a symlink; None otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | NOFOLLOW)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Put ``data`` at ``path`` in one step: written under a fresh temporary name beside it
    (``O_EXCL | O_NOFOLLOW``), then renamed over whatever ``path`` was (a symlink there is
    replaced, never written through)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, mode)
    try:
        with open(fd, "wb", closefd=False) as out:
            out.write(data)
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def open_private(path: Path, flags: int, mode: int = 0o600) -> int:
    """``os.open`` that refuses a symlink at ``path`` (``ELOOP``) and creates files ``mode``."""
    return os.open(path, flags | NOFOLLOW, mode)


def move_file(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst`` (never replacing a file there), whole or not at all.

    On one file system this is a link and an unlink. Across two it is a copy under a
    temporary name beside ``dst`` (``O_EXCL | O_NOFOLLOW``, 0600), fsynced, given its name
    in one step, the folder fsynced, and only then ``src`` unlinked: a move cut short
    leaves ``src`` whole, and at most a finished copy at ``dst``.

    Raises:
        FileExistsError: ``dst`` exists.
    """
    try:
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError as err:
        if err.errno != errno.EXDEV:
            if os.path.lexists(dst):
                raise FileExistsError(errno.EEXIST, "File exists", str(dst)) from None
            os.rename(src, dst)  # a file system without hard links
            return
        _copy_whole(src, dst)
    os.unlink(src)


def _copy_whole(src: Path, dst: Path) -> None:
    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.moving")
    try:
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
        with open(src, "rb") as source, open(out, "wb") as target:
            shutil.copyfileobj(source, target, 1 << 20)
            target.flush()
            os.fsync(target.fileno())
        os.link(tmp, dst)  # fails if dst appeared meanwhile
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.unlink()
    folder = os.open(dst.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    except OSError:  # a file system that cannot fsync a folder: the link still happened
        pass
    finally:
        os.close(folder)
