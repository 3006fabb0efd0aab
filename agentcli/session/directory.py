"""The sessions folder: where session files live, and how a SESSION argument is found."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agentcli.errors import (
    AgentcliError,
    SessionBusyError,
    SessionFileError,
    SessionNotFoundError,
    UsageError,
)
from agentcli.session.records import SessionMeta
from agentcli.session.session import Session
from agentcli.session.state_folder import IGNORE_ALL, check_sessions_folder, ensure_state_folder
from agentcli.store.durable import BUILDING, damage_as_error, ensure_private_dir, lock_path
from agentcli.store.ids import looks_like_id, new_id
from agentcli.store.lock import WriterLock, is_locked, process_alive
from agentcli.store.owned import move_file, write_private

SUFFIX = ".sqlite"
MIN_PREFIX = 4


@dataclass
class SessionEntry:
    """One session file as ``list`` shows it; ``error`` set when it cannot be read."""

    path: Path
    meta: SessionMeta | None
    busy: bool
    messages: int = 0
    error: str | None = None


class SessionDirectory:
    """A folder of ``<id>.sqlite`` files.

    Example:
        >>> folder = SessionDirectory(Path("sessions"))
        >>> session = folder.create(workspace_root=Path.cwd(), title="fix the tests")
    """

    def __init__(self, path: Path, *, state_dir: Path | None = None, legacy: Path | None = None):
        self.path = path
        self.state_dir = state_dir
        self.legacy = legacy if legacy is not None and legacy.resolve() != path.resolve() else None

    def ensure(self) -> None:
        """Create the folder 0700 with a ``.gitignore`` of ``*`` when it is absent (and
        agentcli's state folder around it, when it lies inside one, checked to be its own:
        ``session/state_folder.py``)."""
        ours = self.state_dir is not None and self.state_dir in self.path.parents
        if ours:
            ensure_state_dir(self.state_dir)  # type: ignore[arg-type]
        check_sessions_folder(self.path, ours=ours)
        created = not self.path.exists()
        ensure_private_dir(self.path)
        if created:
            write_private(self.path / ".gitignore", IGNORE_ALL, 0o644)

    def create(self, *, workspace_root: Path, title: str = "", **meta: object) -> Session:
        """Create a new session file with a fresh id, in one atomic step.

        ``meta`` goes to :meth:`Session.create` (``model``, ``settings``, ``system``,
        ``prompt``, ``prompt_source``, ``step``). Temporary files left by a creator that
        was killed are removed first.
        """
        self.ensure()
        self._remove_dead_builds()
        return Session.create(self.path / f"{new_id()}{SUFFIX}", workspace_root=workspace_root,
                              title=title, **meta)  # type: ignore[arg-type]

    def _remove_dead_builds(self) -> None:
        """Delete ``.<id>.sqlite.<pid>.creating`` files whose creator process is gone."""
        for tmp in self.path.glob(f".*{SUFFIX}.*{BUILDING}*"):
            pid = tmp.name.split(BUILDING)[0].rsplit(".", 1)[-1]
            if pid.isdigit() and not process_alive(int(pid)):
                tmp.unlink(missing_ok=True)

    def files(self) -> list[Path]:
        """Every session file in the folder (and in the old ``./sessions`` folder), oldest id first."""
        return sorted(self.own_files() + self.legacy_files(), key=lambda p: p.stem)

    def own_files(self) -> list[Path]:
        """The session files in this folder itself (not the old ``./sessions``), by name."""
        if not self.path.is_dir():
            return []
        # a link here is not a session of this folder: it may lead anywhere
        return sorted(p for p in self.path.glob(f"*{SUFFIX}") if p.is_file() and not p.is_symlink())

    def legacy_files(self) -> list[Path]:
        """Session files agentcli used to keep in ``./sessions`` at the workspace root: still
        found, listed and resumed there until :meth:`move_legacy` moves them. Only files that
        are agentcli sessions count: a project's own ``sessions/`` folder is left alone."""
        if self.legacy is None or not self.legacy.is_dir():
            return []
        return sorted(p for p in self.legacy.glob(f"*{SUFFIX}") if p.is_file() and is_session_file(p))

    def move_legacy(self) -> list[Path]:
        """Move the old folder's session files here; busy and git-tracked ones stay.

        Returns the files moved (their new paths). A busy file, one the repository tracks
        (it came with a clone: not this user's to adopt), or one whose name is taken here
        already, is left where it is. Each file is held by its writer lock while it moves,
        its write-ahead log merged into it first, so one file moves (across file systems
        too: a copy, fsynced, then the old one removed; :func:`move_file`)."""
        from agentcli.session.state_folder import tracked_by_git

        files = self.legacy_files()
        tracked: set[str] = set()
        if files and self.legacy is not None:
            tracked = {Path(name).name for name in tracked_by_git(self.legacy)}
        moved = []
        for path in files:
            target = self.path / path.name
            if path.name in tracked or target.exists():
                continue
            self.ensure()
            try:
                with WriterLock(lock_path(path)) as lock:
                    lock.acquire(f"session {path.stem}")
                    _merge_log(path)
                    move_file(path, target)
            except (SessionBusyError, SessionFileError, FileExistsError):
                continue
            lock_path(path).unlink(missing_ok=True)
            moved.append(target)
        return moved

    def entries(self, workspace_root: Path | None = None) -> list[SessionEntry]:
        """Sessions in the folder, of one workspace unless ``workspace_root`` is None."""
        entries = []
        for path in self.files():
            entry = entry_of(path)
            if entry.meta is None:
                if workspace_root is None:
                    entries.append(entry)
            elif workspace_root is None or Path(entry.meta.workspace_root) == workspace_root:
                entries.append(entry)
        return entries

    def resolve(self, ref: str, workspace_root: Path | None = None) -> Path:
        """Find a session file from an id, a unique prefix (4+ characters), ``last``,
        or the path of a session file.

        Raises:
            SessionNotFoundError: nothing matches.
            UsageError: the prefix is too short or matches several sessions.
        """
        ref = ref.strip()
        as_path = Path(ref).expanduser()
        if ref.endswith(SUFFIX) or "/" in ref:
            try:
                found = as_path.is_file()
            except OSError as err:  # a folder on the way we may not search
                raise SessionFileError(f"cannot read {ref}: {err.strerror or err}") from None
            if found:
                return as_path
            raise SessionNotFoundError(f"no session file at {ref}")
        if ref == "last":
            return self._last(workspace_root)
        if len(ref) < MIN_PREFIX:
            raise UsageError(f"session id '{ref}' is too short: give at least {MIN_PREFIX} characters")
        if not looks_like_id(ref.lower()):
            raise UsageError(f"'{ref}' is not a session id, an id prefix, 'last' or a .sqlite path "
                             "(agentcli list shows the sessions)")
        files = self.files()
        exact = [p for p in files if p.stem == ref.lower()]
        matches = exact or [p for p in files if p.stem.startswith(ref.lower())]
        if not matches:  # a file copied or renamed in the folder: found by the id it holds
            matches = [e.path for e in self.entries()
                       if e.meta is not None and e.meta.id.startswith(ref.lower())]
        if not matches:
            raise SessionNotFoundError(
                f"no session '{ref}' in {self.path} (agentcli list --all shows the sessions there)"
            )
        if len(matches) > 1:
            names = ", ".join(p.stem for p in matches[:5])
            raise UsageError(f"'{ref}' matches {len(matches)} sessions ({names}): give more characters")
        return matches[0]

    def ref(self, path: Path, session_id: str) -> str:
        """What a SESSION argument needs to find ``path`` again: ``session_id`` when the file
        is named by it in this folder (or the old ``./sessions``), else the file's path
        (quoted for a shell)."""
        folders = {self.path.resolve(), *([self.legacy.resolve()] if self.legacy is not None else [])}
        if path.stem == session_id and path.resolve().parent in folders:
            return session_id
        import shlex

        return shlex.quote(str(path))

    def _last(self, workspace_root: Path | None) -> Path:
        entries = [e for e in self.entries(workspace_root) if e.meta is not None]
        if not entries:
            raise SessionNotFoundError(
                f"no session of this workspace in {self.path} (start one with agentcli new)"
            )
        newest = max(entries, key=lambda e: (e.meta.updated_at, e.path.stem))  # type: ignore[union-attr]
        return newest.path

    def remove(self, path: Path) -> None:
        """Delete a session file with its WAL, shared-memory and lock files."""
        for extra in ("-wal", "-shm"):
            path.with_name(path.name + extra).unlink(missing_ok=True)
        path.unlink()
        lock_path(path).unlink(missing_ok=True)


def entry_of(path: Path) -> SessionEntry:
    """One session file as ``list`` shows it (its ``error`` set when it cannot be read: one
    bad file never breaks a listing)."""
    busy = is_locked(lock_path(path))
    try:
        with damage_as_error(path), Session.open(path, writer=False) as session:
            meta = session.meta()
            count = session.transcript.count()
    except (AgentcliError, OSError) as err:
        error = str(err) if isinstance(err, AgentcliError) else f"cannot read {path}: {err}"
        return SessionEntry(path, None, busy, error=error)
    return SessionEntry(path, meta, busy, count)


def ensure_state_dir(folder: Path) -> None:
    """Create agentcli's state folder (``.agentcli/``) 0700, checked to be agentcli's own,
    with a ``.gitignore`` of ``*`` in it, so nothing agentcli writes there ever shows in
    ``git status`` (:func:`agentcli.session.state_folder.ensure_state_folder`)."""
    ensure_state_folder(folder)


def _merge_log(path: Path) -> None:
    """Fold a session file's write-ahead log into it (the last connection to close removes
    ``-wal`` and ``-shm``), so the file alone is the whole session. The caller holds its lock."""
    import sqlite3

    if not any(path.with_name(path.name + extra).exists() for extra in ("-wal", "-shm")):
        return
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
    except sqlite3.Error as err:
        raise SessionFileError(f"cannot merge the write-ahead log of {path}: {err}") from None
    if any(path.with_name(path.name + extra).exists() for extra in ("-wal", "-shm")):
        raise SessionFileError(f"{path} keeps a write-ahead log: another process has it open")


def is_session_file(path: Path) -> bool:
    """True when ``path`` starts like an agentcli session file (SQLite with our application id)."""
    from agentcli.session.schema import APPLICATION_ID

    try:
        with path.open("rb") as handle:
            header = handle.read(72)
    except OSError:
        return False
    return header.startswith(b"SQLite format 3\x00") and header[68:72] == APPLICATION_ID.to_bytes(4, "big")

