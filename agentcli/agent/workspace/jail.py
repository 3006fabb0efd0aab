"""The workspace: a path jail around the root folder, and careful file I/O inside it.

Every path a tool touches goes through :meth:`Workspace.resolve`, which answers with
the real (symlink-free) absolute path or refuses with a :class:`ToolError`.

Example:
    >>> ws = Workspace(Path("/repo"), protected=[Path("/repo/sessions")])
    >>> ws.resolve("src/app.py")
    PosixPath('/repo/src/app.py')
    >>> ws.resolve("../etc/passwd")
    Traceback (most recent call last):
    ToolError: '../etc/passwd' is outside the workspace ...
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from agentcli.agent.errors import ToolError
from agentcli.agent.failpoints import failpoint

GIT_DIR = ".git"
TEMP_SUFFIX = ".agentcli-tmp"
_TEMPORARY = re.compile(r"\.(.+)\.[0-9a-f]{8}\.agentcli-tmp", re.DOTALL)
NAME_MAX = 255  # bytes in one file name (Linux, macOS)
PATH_MAX = 4096  # bytes in a path, with its terminating NUL (Linux)


class Workspace:
    """The folder the agent works in; paths outside it, in ``.git`` or protected are refused."""

    def __init__(self, root: Path, *, protected: Sequence[Path] = ()):
        self.root = Path(os.path.realpath(root))
        self.protected = tuple(Path(os.path.realpath(self.root / p)) for p in protected)

    def resolve(self, path: str) -> Path:
        """The real absolute path of ``path`` (relative to the root, or absolute inside it).

        Raises:
            ToolError: the path leaves the workspace (``..``, an absolute path elsewhere,
                a symlink leading out, also through a symlinked parent folder), or lies
                inside ``.git`` or a protected folder such as the sessions folder.
        """
        if not isinstance(path, str) or "\x00" in path:
            raise ToolError(f"Invalid path {path!r}.")
        if not _is_utf8(path):
            raise ToolError(f"Invalid path {path!r}: it is not valid UTF-8 text (a lone surrogate "
                            "such as \\ud800). Files whose names are not UTF-8 can only be reached "
                            "with run_shell.")
        written = path.strip() or "."
        candidate = Path(written)
        if not candidate.is_absolute():
            candidate = self.root / candidate
        _refuse_too_long(path, candidate)
        # realpath resolves symlinks component by component (so "link/.." goes where the
        # kernel would go) and keeps the not-yet-existing tail as written: checking it
        # checks the real location of the deepest existing ancestor too.
        try:
            real = Path(os.path.realpath(candidate))
        except (OSError, ValueError) as exc:
            raise ToolError(f"Cannot resolve {path!r}: {exc}.") from None
        if not _is_within(real, self.root):
            raise ToolError(
                f"{path!r} is outside the workspace ({self.root}); only paths inside it can "
                "be used (symlinks that lead out are refused too)."
            )
        self._refuse_reserved(written, real)
        return real

    def relative(self, p: Path) -> str:
        """The ``/``-separated path of ``p`` relative to the root (``.`` for the root)."""
        p = Path(p)
        if not p.is_absolute():
            p = self.root / p
        try:
            rel = p.relative_to(self.root)
        except ValueError:
            rel = Path(os.path.realpath(p)).relative_to(self.root)
        return rel.as_posix() or "."

    def is_protected(self, real: Path) -> bool:
        """Whether a real path is inside ``.git`` (at any depth) or a protected folder."""
        return self._in_git(real) or any(_is_within(real, p) for p in self.protected)

    def _in_git(self, path: Path) -> bool:
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            return False
        return any(part.casefold() == GIT_DIR for part in parts)

    def _refuse_reserved(self, path: str, real: Path) -> None:
        # The path as written matters too: ".git" may itself be a symlink to a folder.
        written = Path(os.path.normpath(self.root / path))
        if self._in_git(real) or self._in_git(written):
            raise ToolError(f"{path!r} is inside the .git folder, which tools may not touch.")
        if any(_is_within(real, p) for p in self.protected):
            raise ToolError(
                f"{path!r} is inside a protected folder or file (agentcli's own state and "
                "configuration: the sessions folder, agentcli.toml), which tools may not touch."
            )


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _refuse_too_long(path: str, candidate: Path) -> None:
    """Refuse what the kernel would answer ENAMETOOLONG, before any system call sees it."""
    encoded = os.fsencode(candidate)
    if len(encoded) >= PATH_MAX:
        raise ToolError(f"The path {path[:80]!r}… is too long ({len(encoded)} bytes); paths are "
                        f"limited to {PATH_MAX - 1} bytes.")
    longest = max(encoded.split(b"/"), key=len)
    if len(longest) > NAME_MAX:
        raise ToolError(f"A file name in {path[:80]!r}… is too long ({len(longest)} bytes); names "
                        f"are limited to {NAME_MAX} bytes.")


def _is_within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


@dataclass(frozen=True)
class FileState:
    """A regular file's content and permission bits."""

    data: bytes
    mode: int


def read_state(path: Path) -> FileState | None:
    """The file's bytes and mode, or ``None`` when it does not exist.

    Raises:
        ToolError: the path exists but is not a regular file (e.g. a folder).
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        raise ToolError(f"{path.name!r} is not a regular file (it is a folder or a device).")
    return FileState(path.read_bytes(), stat.S_IMODE(st.st_mode))


def default_file_mode() -> int:
    """The mode a newly created file gets: ``0o644`` minus the process umask."""
    return 0o644 & ~_umask()


def _umask() -> int:
    try:  # Linux exposes it without the set-and-restore race of os.umask
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


class UnsafeFolderError(OSError):
    """A folder on the way to a path is a symlink or not a folder: nothing was written."""


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


@contextlib.contextmanager
def parent_folder(path: Path, *, root: Path | None = None, create: bool = False) -> Iterator[tuple[int, str]]:
    """Yield ``(fd, name)``: an open descriptor of ``path``'s folder and its last name.

    With ``root``, every folder below ``root`` is opened relative to the one before with
    ``O_NOFOLLOW`` (and made when missing, with ``create``), so a folder swapped for a
    symlink after a check is never walked through: the check and the use are one step.
    Without ``root`` the folder is opened as the caller named it.

    Raises:
        UnsafeFolderError: a folder on the way is a symlink or not a folder.
        FileNotFoundError: a folder is missing (without ``create``).
    """
    if root is None:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    else:
        fd = _walk_folders(root, path.relative_to(root).parts[:-1], create)
    try:
        yield fd, path.name
    finally:
        os.close(fd)


def _walk_folders(root: Path, parts: Sequence[str], create: bool) -> int:
    fd = os.open(root, _DIR_FLAGS & ~os.O_NOFOLLOW)  # the root itself was resolved by the caller
    try:
        for done, part in enumerate(parts):
            if part in ("", ".", ".."):
                raise UnsafeFolderError(errno.EINVAL, f"{part!r} is not a folder name")
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                if err.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                shown = "/".join(parts[: done + 1])
                raise UnsafeFolderError(
                    err.errno, f"{shown!r} is a symlink or not a folder; nothing was written through it"
                ) from None
            os.close(fd)
            fd = child
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_atomic(path: Path, data: bytes, mode: int | None = None, *, root: Path | None = None) -> None:
    """Replace ``path`` with ``data`` in one step, creating parent folders.

    The bytes go to a temporary file in the same folder, are fsynced, the file is renamed
    over the target and the folder fsynced, so a crash leaves the old or the new content,
    never half. A symlink at ``path`` is replaced, never followed; with ``root`` the
    folders are walked as :func:`parent_folder` does. ``mode`` defaults to the existing
    file's mode, or :func:`default_file_mode` for a new one. The one writer of file
    contents for the file tools and for rollback.
    """
    with parent_folder(path, root=root, create=True) as (folder, name):
        if mode is None:
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(name, dir_fd=folder, follow_symlinks=False)
                mode = stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None
        tmp = temporary_name(name)
        # 0o644 here lets the kernel apply the umask for new files; fchmod sets an explicit mode.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                if mode is not None:
                    os.fchmod(out.fileno(), mode)
                os.fsync(out.fileno())
            failpoint("write.staged")  # the crash tests' kill between the two steps
            os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=folder)
            raise
        fsync_folder(folder)


def temporary_name(name: str) -> str:
    """The name of a temporary file beside ``name``: ``.NAME.<8 hex>.agentcli-tmp``.

    Never a user's file: the walks leave such names out (so no scan logs one), and one a
    killed process left is removed when its write is settled (:func:`remove_temporaries`).
    """
    return f".{name}.{secrets.token_hex(4)}{TEMP_SUFFIX}"


def is_temporary(name: str) -> bool:
    """Whether ``name`` is one :func:`temporary_name` makes."""
    return _TEMPORARY.fullmatch(name) is not None


def remove_temporaries(path: Path, *, root: Path) -> list[str]:
    """Remove the temporary files an interrupted write of ``path`` left beside it; their names.

    Only names :func:`temporary_name` gives ``path``'s own name are touched, never
    through a symlinked folder.
    """
    removed: list[str] = []
    try:
        with parent_folder(path, root=root) as (folder, name):
            with os.scandir(folder) as entries:
                mine = [e.name for e in entries if e.name.endswith(TEMP_SUFFIX)
                        and _is_temporary_of(e.name, name)]
            for leftover in mine:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover, dir_fd=folder)
                    removed.append(leftover)
            if removed:
                fsync_folder(folder)
    except (FileNotFoundError, NotADirectoryError, UnsafeFolderError, PermissionError):
        pass
    return removed


def _is_temporary_of(candidate: str, name: str) -> bool:
    match = _TEMPORARY.fullmatch(candidate)
    return match is not None and match.group(1) == name


def remove_file(path: Path, *, root: Path | None = None) -> None:
    """Delete a file (or symlink, never what it points to); one already gone is fine."""
    try:
        with parent_folder(path, root=root) as (folder, name):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=folder)
            fsync_folder(folder)
    except FileNotFoundError:  # its folder is gone too
        pass


def set_mode(path: Path, mode: int, *, root: Path | None = None) -> None:
    """Change the permission bits of a file or folder, never through a symlink.

    Raises:
        UnsafeFolderError: ``path`` (or a folder on the way) is a symlink.
    """
    with parent_folder(path, root=root) as (folder, name):
        chmod_at(folder, name, mode)


def chmod_at(folder: int, name: str, mode: int) -> None:
    """``chmod`` the entry ``name`` of the open folder ``folder`` without following a symlink."""
    flags = getattr(os, "O_PATH", os.O_RDONLY | os.O_NONBLOCK) | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(name, flags, dir_fd=folder)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafeFolderError(err.errno, f"{name!r} is a symlink; its mode was left alone") from None
        raise
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            raise UnsafeFolderError(errno.ELOOP, f"{name!r} is a symlink; its mode was left alone")
        if hasattr(os, "O_PATH") and os.path.isdir("/proc/self/fd"):
            # An O_PATH descriptor cannot be fchmod'ed; its /proc link names that very inode.
            os.chmod(f"/proc/self/fd/{fd}", mode)
        else:
            os.fchmod(fd, mode)
    finally:
        os.close(fd)


def fsync_folder(fd: int) -> None:
    """fsync an open folder, so a rename or unlink in it survives a power cut."""
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a folder; the rename still happened
        pass
