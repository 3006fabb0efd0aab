"""The sessions folder: where session files live, and how a SESSION argument is found."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from agentcli.errors import AgentcliError, SessionFileError, SessionNotFoundError, UsageError
from agentcli.session.records import SessionMeta
from agentcli.session.session import Session
from agentcli.store.durable import BUILDING, damage_as_error, ensure_private_dir, lock_path
from agentcli.store.ids import looks_like_id, new_id
from agentcli.store.lock import is_locked

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

    def __init__(self, path: Path):
        self.path = path

    def ensure(self) -> None:
        """Create the folder 0700 with a ``.gitignore`` of ``*`` when it is absent."""
        created = not self.path.exists()
        ensure_private_dir(self.path)
        if created:
            (self.path / ".gitignore").write_text("*\n")

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
            if pid.isdigit() and not _running(int(pid)):
                tmp.unlink(missing_ok=True)

    def files(self) -> list[Path]:
        """Every session file in the folder, oldest id first."""
        if not self.path.is_dir():
            return []
        return sorted(p for p in self.path.glob(f"*{SUFFIX}") if p.is_file())

    def entries(self, workspace_root: Path | None = None) -> list[SessionEntry]:
        """Sessions in the folder, of one workspace unless ``workspace_root`` is None."""
        entries = []
        for path in self.files():
            busy = is_locked(lock_path(path))
            try:
                with damage_as_error(path), Session.open(path, writer=False) as session:
                    meta = session.meta()
                    count = session.transcript.count()
            except (AgentcliError, OSError) as err:  # one bad file never breaks the listing
                if workspace_root is None:
                    error = str(err) if isinstance(err, AgentcliError) else f"cannot read {path}: {err}"
                    entries.append(SessionEntry(path, None, busy, error=error))
                continue
            if workspace_root is None or Path(meta.workspace_root) == workspace_root:
                entries.append(SessionEntry(path, meta, busy, count))
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
        matches = [p for p in self.files() if p.stem.startswith(ref.lower())]
        if not matches:
            raise SessionNotFoundError(
                f"no session '{ref}' in {self.path} (agentcli list --all shows the sessions there)"
            )
        if len(matches) > 1:
            names = ", ".join(p.stem for p in matches[:5])
            raise UsageError(f"'{ref}' matches {len(matches)} sessions ({names}): give more characters")
        return matches[0]

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


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
