"""agentcli's state folder, ``.agentcli/`` at the workspace root, must be its own.

A cloned repository can ship a ``.agentcli/`` (a ``.gitignore`` of ``!*`` that makes
session files committable, a ``history`` symlink that sends typed prompts elsewhere, a
``sessions`` symlink that moves session files anywhere), and on a shared machine a
neighbour can make one. Before any command uses the folder it is checked; what agentcli
can put right without losing anything of yours it puts right, the rest it refuses:

============================================  =========================================
found                                         done
============================================  =========================================
``.agentcli`` a symlink, or not a folder      refused (its target is not agentcli's)
``.agentcli`` owned by another user           refused
a file in it tracked by git                   refused (those files are the repository's)
``.agentcli`` or ``sessions`` group/world     made 0700 (refused if something in it
writable                                      belongs to another user)
``.gitignore`` not exactly ``*``, or a link   rewritten, every time
``history`` a symlink or not a plain file     replaced by an empty history (a warning)
of this user's
``sessions`` a symlink, not a folder, or      refused
another user's
============================================  =========================================
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from agentcli.errors import UsageError
from agentcli.store.owned import OTHERS_WRITE, lstat_or_none, not_own, read_small, write_private

IGNORE_ALL = b"*\n"
SESSIONS = "sessions"
HISTORY = "history"
UNTRACKED_STAMP = ".untracked"
"""In the state folder: the git index (path, inode, size, mtime) last seen not to track it,
so ``git ls-files`` runs again only once the index has changed (~2 ms a command saved)."""


class StateFolderError(UsageError):
    """agentcli's state folder (or a sessions folder) is not this user's own: refused, exit 2."""


def ensure_state_folder(folder: Path) -> list[str]:
    """Create the state folder 0700 when absent, then :func:`check_state_folder` it.

    Returns warnings about what was put right (for stderr)."""
    if lstat_or_none(folder) is None:
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass  # made meanwhile: checked below like any other
        except OSError as err:
            raise StateFolderError(f"cannot create agentcli's folder {folder}: "
                                   f"{err.strerror or err}") from None
    return check_state_folder(folder)


def check_state_folder(folder: Path) -> list[str]:
    """Refuse a state folder that is not agentcli's own, and put right what can be (the
    table above). Nothing there yet: nothing to do. Returns warnings for stderr.

    Raises:
        StateFolderError: one line naming what is wrong and what to do.
    """
    st = lstat_or_none(folder)
    if st is None:
        return []
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        what = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a folder"
        raise StateFolderError(f"{folder} is {what}: agentcli keeps its state only in a folder of its own "
                               f"there (remove it, or pass -C to work elsewhere)")
    if st.st_uid != os.geteuid():
        raise StateFolderError(f"{folder} {not_own(st)}: agentcli will not keep your sessions and history "
                               "there (remove it, or pass -C to work elsewhere)")
    tracked = _tracked(folder)
    if tracked:
        shown = ", ".join(tracked[:3]) + (f" and {len(tracked) - 3} more" if len(tracked) > 3 else "")
        raise StateFolderError(
            f"{folder} is tracked by git ({shown}): it came with the repository, and agentcli keeps its "
            f"state only in a folder of its own (git rm -r --cached {folder.name} and remove it, "
            "or pass -C to work elsewhere)")
    notes: list[str] = []
    _make_private(folder, st)
    _ignore_everything(folder)
    notes += _check_history(folder / HISTORY)
    check_sessions_folder(folder / SESSIONS, ours=True)
    return notes


def check_sessions_folder(folder: Path, *, ours: bool) -> None:
    """Refuse a sessions folder that is a symlink (``ours``: agentcli's own, inside the
    state folder), not a folder, or not this user's own; agentcli's own is made 0700.

    A folder named by ``--sessions-dir`` or ``AGENTCLI_SESSIONS_DIR`` may be a symlink
    (it is the user's choice) but must be theirs and writable by nobody else.

    Raises:
        StateFolderError: one line naming what is wrong and what to do.
    """
    st = lstat_or_none(folder)
    if st is None:
        return
    if ours and stat.S_ISLNK(st.st_mode):
        raise StateFolderError(f"{folder} is a symbolic link: agentcli keeps session files only in a real "
                               "folder there (remove the link; to keep sessions elsewhere, use "
                               "--sessions-dir or AGENTCLI_SESSIONS_DIR)")
    try:
        st = os.stat(folder)
    except OSError as err:
        raise StateFolderError(f"cannot use the sessions folder {folder}: {err.strerror or err}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise StateFolderError(f"the sessions folder {folder} is not a folder")
    problem = not_own(st)
    if problem is None:
        return
    if ours and st.st_uid == os.geteuid():
        _make_private(folder, st)
        return
    raise StateFolderError(f"the sessions folder {folder} {problem}: anyone who can write there can "
                           "change your sessions (use a folder of your own, mode 0700)")


def tracked_by_git(folder: Path) -> list[str]:
    """Files under ``folder`` that git tracks (none when there is no repository or no git).

    Run with none of the caller's ``GIT_*`` variables and no file-system monitor hook, so
    it asks the repository the folder lies in, and runs nothing of that repository's."""
    if not any((parent / ".git").exists() for parent in (folder.parent, *folder.parent.parents)):
        return []
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    try:
        done = subprocess.run(["git", "-c", "core.fsmonitor=false", "-C", str(folder), "ls-files", "-z",
                               "--cached", "--full-name", "--", "."],
                              capture_output=True, env=env, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return []
    if done.returncode != 0:  # not a repository, or one git will not read (another user's)
        return []
    return [os.fsdecode(name) for name in done.stdout.split(b"\0") if name]


def _tracked(folder: Path) -> list[str]:
    """:func:`tracked_by_git`, skipped while the index is the one last found not to track
    ``folder`` (its stamp cannot be forged: it holds the index's inode and nanosecond mtime)."""
    index = _git_index(folder.parent)
    if index is None:
        return []
    try:
        st = os.stat(index)
    except OSError:
        return []  # no index yet: git tracks nothing
    stamp = f"{index}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()
    if read_small(folder / UNTRACKED_STAMP) == stamp:
        return []
    tracked = tracked_by_git(folder)
    if not tracked:
        try:
            write_private(folder / UNTRACKED_STAMP, stamp)
        except OSError:  # a read-only workspace: ask git again next time
            pass
    return tracked


def _git_index(start: Path) -> Path | None:
    """The index file of the repository ``start`` lies in (a ``.git`` folder, or the
    ``gitdir:`` a ``.git`` file of a worktree names), or None outside any."""
    for parent in (start, *start.parents):
        dot_git = parent / ".git"
        st = lstat_or_none(dot_git)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            return dot_git / "index"
        text = (read_small(dot_git) or b"").decode("utf-8", "replace").strip()
        if text.startswith("gitdir:"):
            gitdir = Path(text.removeprefix("gitdir:").strip())
            return (gitdir if gitdir.is_absolute() else parent / gitdir) / "index"
        return None
    return None


def _make_private(folder: Path, st: os.stat_result) -> None:
    """0700, unless something another user put in it while others could write there."""
    if not st.st_mode & (OTHERS_WRITE | stat.S_IRWXG | stat.S_IRWXO):
        return
    if st.st_mode & OTHERS_WRITE:
        for entry in os.scandir(folder):
            owner = entry.stat(follow_symlinks=False).st_uid
            if owner != os.geteuid():
                raise StateFolderError(
                    f"{folder} was writable by other users and {entry.name} in it belongs to another user "
                    f"(uid {owner}): remove it (agentcli will not use the folder until then)")
    try:
        os.chmod(folder, 0o700)
    except OSError as err:
        raise StateFolderError(f"{folder} is writable by other users and cannot be made private: "
                               f"{err.strerror or err}") from None


def _ignore_everything(folder: Path) -> None:
    """A ``.gitignore`` of exactly ``*``, a plain file: nothing in the folder shows in git."""
    ignore = folder / ".gitignore"
    if read_small(ignore) == IGNORE_ALL:
        return
    try:
        write_private(ignore, IGNORE_ALL, 0o644)
    except OSError:  # a read-only workspace: nothing agentcli writes lands there either
        pass


def _check_history(path: Path) -> list[str]:
    st = lstat_or_none(path)
    if st is None or (stat.S_ISREG(st.st_mode) and not_own(st) is None):
        return []
    was = "a symbolic link" if stat.S_ISLNK(st.st_mode) else (
        "not a plain file" if not stat.S_ISREG(st.st_mode) else f"a file that {not_own(st)}")
    try:
        if stat.S_ISDIR(st.st_mode):
            raise StateFolderError(f"{path} is a folder, where agentcli keeps its input history: remove it")
        os.unlink(path)  # a link goes, never what it points to
    except OSError as err:
        raise StateFolderError(f"{path} is {was} and cannot be replaced: {err.strerror or err}") from None
    return [f"{path} was {was}; it is replaced by a new, empty input history"]
