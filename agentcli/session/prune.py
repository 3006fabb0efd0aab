"""Which sessions to delete: by age, by status, by emptiness — never a busy one.

``agentcli prune`` and the ``retention_days`` setting both come here. A rule selects the
sessions matching every criterion it has (``--older-than 30d --status failed``: old
*and* failed); the age of a session is the time since it was last active
(``meta.updated_at``). A busy session (a process holds its lock) is never selected: it
is reported as kept. Deleting takes the session's writer lock first, so a session that
became busy meanwhile is kept too.

:func:`expired` is the start-up check of ``retention_days``: it costs one ``stat`` per
session file, and opens only files whose modification time is already past the age; it
runs at most once a day per sessions folder (:func:`retention_due`, a stamp file beside
the sessions), so most starts pay one ``stat`` (``benchmarks/prune.py``).

Example:
    >>> rule = PruneRule(older_than=timedelta(days=30), statuses=frozenset({"failed"}))
    >>> [c.entry.path.name for c in select(folder.entries(root), rule, now=datetime.now(timezone.utc))]
    ['1m8c4x0q2b3zk.sqlite']
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from agentcli.errors import SessionBusyError, UsageError
from agentcli.session.records import SESSION_STATUSES

if TYPE_CHECKING:
    from agentcli.session.directory import SessionDirectory, SessionEntry

STAMP = ".retention-checked"
"""The file whose modification time says when ``retention_days`` last looked at a folder."""
CHECK_EVERY = timedelta(hours=24)

_AGE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w`` or ``45s`` as a duration.

    Raises:
        UsageError: anything else.

    Example:
        >>> parse_age("30d")
        datetime.timedelta(days=30)
    """
    match = _AGE.match(text)
    if match is None:
        raise UsageError(f"--older-than takes an age such as 30d, 12h, 90m or 2w, not {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_statuses(text: str) -> frozenset[str]:
    """``failed,cancelled`` as a set of status words (each one of SESSION_STATUSES).

    Raises:
        UsageError: a word that is no status.
    """
    words = frozenset(word.strip() for word in text.split(",") if word.strip())
    unknown = sorted(words - set(SESSION_STATUSES))
    if unknown or not words:
        raise UsageError(f"--status takes status words separated by commas ({', '.join(SESSION_STATUSES)}), "
                         f"not {', '.join(unknown) or repr(text)}")
    return words


@dataclass(frozen=True)
class PruneRule:
    """What to delete: sessions matching every criterion given (none given: nothing)."""

    older_than: timedelta | None = None
    statuses: frozenset[str] = field(default_factory=frozenset)
    empty: bool = False

    def __bool__(self) -> bool:
        return self.older_than is not None or bool(self.statuses) or self.empty


@dataclass
class Candidate:
    """A session a rule matched; ``kept`` says why it stays anyway (``busy``), else None."""

    entry: SessionEntry
    status: str
    kept: str | None = None


def select(entries: list[SessionEntry], rule: PruneRule, *, now: datetime,
           is_empty: Callable[[Path], bool] | None = None) -> list[Candidate]:
    """The sessions ``rule`` matches, oldest first; busy ones are marked kept.

    ``is_empty(path)`` says whether a session holds no work (default: :func:`holds_no_work`,
    which opens it).
    """
    empty = is_empty or holds_no_work
    found = []
    for entry in entries:
        status = entry.meta.status_now(entry.busy) if entry.meta is not None else "error"
        if rule.statuses and status not in rule.statuses:
            continue
        if rule.older_than is not None and now - last_active(entry) < rule.older_than:
            continue
        if rule.empty and (entry.meta is None or not empty(entry.path)):
            continue
        found.append(Candidate(entry, status, "busy" if entry.busy else None))
    return sorted(found, key=lambda c: (last_active(c.entry), c.entry.path.name))


def last_active(entry: SessionEntry) -> datetime:
    """When the session was last active: ``meta.updated_at``, or the file's modification
    time for a file that cannot be read."""
    if entry.meta is not None:
        try:
            return datetime.fromisoformat(entry.meta.updated_at.replace("Z", "+00:00"))
        except ValueError:
            pass
    try:
        return datetime.fromtimestamp(entry.path.stat().st_mtime, timezone.utc)
    except OSError:
        return datetime.now(timezone.utc)


def holds_no_work(path: Path) -> bool:
    """True when no model ever answered the session (no assistant message) and it changed
    no file: opened and left, or every request failed."""
    from agentcli.session.session import Session
    from agentcli.store.durable import damage_as_error

    with damage_as_error(path), Session.open(path, writer=False) as session:
        answered = session.db.scalar("SELECT count(*) FROM messages WHERE role = 'assistant'")
        changed = session.db.scalar("SELECT count(*) FROM file_changes")
    return not answered and not changed


def delete(directory: SessionDirectory, candidate: Candidate) -> bool:
    """Delete one selected session under its writer lock; False (and ``kept`` set) when it
    became busy meanwhile."""
    from agentcli.store.durable import lock_path
    from agentcli.store.lock import WriterLock

    path = candidate.entry.path
    lock = WriterLock(lock_path(path))
    try:
        lock.acquire(f"session {path.stem}")
    except SessionBusyError:
        candidate.kept = "busy"
        return False
    try:
        directory.remove(path)
    finally:
        lock.release()
    return True


def expired(directory: SessionDirectory, workspace_root: Path, days: int, *, now: datetime,
            keep: Path | None = None) -> list[Candidate]:
    """The sessions of ``workspace_root`` in ``directory`` not active for ``days`` days (the
    ``retention_days`` setting), never ``keep`` (the session being resumed) nor a busy one.

    A file modified since the cut-off is skipped from its ``stat`` alone (every commit
    touches the file or its write-ahead log); only older ones are opened.
    """
    from agentcli.session.directory import entry_of

    cutoff = (now - timedelta(days=days)).timestamp()
    keep_real = keep.resolve() if keep is not None else None
    old = []
    for path in _idle_since(directory.path, cutoff):
        if keep_real is not None and path.resolve() == keep_real:
            continue
        entry = entry_of(path)
        if entry.meta is None or Path(entry.meta.workspace_root) != workspace_root:
            continue
        old.append(entry)
    rule = PruneRule(older_than=timedelta(days=days))
    return [c for c in select(old, rule, now=now) if c.kept is None]


def retention_due(folder: Path, *, now: datetime, every: timedelta = CHECK_EVERY) -> bool:
    """Whether ``retention_days`` should look at ``folder`` now: not within ``every``."""
    try:
        checked = (folder / STAMP).stat().st_mtime
    except OSError:
        return True
    return not 0 <= now.timestamp() - checked < every.total_seconds()


def mark_checked(folder: Path) -> None:
    """Remember that ``retention_days`` looked at ``folder`` now (a folder it cannot write
    is looked at again next time)."""
    try:
        fd = os.open(folder / STAMP, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError:
        return
    try:
        os.utime(fd)
    finally:
        os.close(fd)


def _idle_since(folder: Path, cutoff: float) -> list[Path]:
    """The session files of ``folder`` (regular files, no links) that neither they nor their
    write-ahead log were modified since ``cutoff``: one listing and one ``stat`` a file."""
    from agentcli.session.directory import SUFFIX

    times: dict[str, float] = {}
    sessions: list[str] = []
    try:
        with os.scandir(folder) as listing:
            for item in listing:
                name = item.name
                if name.endswith(SUFFIX) and item.is_file(follow_symlinks=False):
                    sessions.append(name)
                elif not name.endswith(f"{SUFFIX}-wal"):
                    continue
                try:
                    times[name] = item.stat(follow_symlinks=False).st_mtime
                except OSError:
                    continue
    except OSError:
        return []
    return sorted(folder / name for name in sessions
                  if max(times.get(name, 0.0), times.get(f"{name}-wal", 0.0)) < cutoff)
