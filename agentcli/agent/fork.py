"""Fork a session: a new session file holding the conversation up to checkpoint N, and, with
a worktree, a git worktree holding the files of checkpoint N (SPEC §5b).

The parent file is only read, once, as ``agentcli show`` reads it: the fork is made from
that one snapshot (``Session.fork``) — its rows cut at the checkpoint
(``session/fork.py``), its baseline the files it will work on — and appears whole or not
at all. It is a session of its own: resumable, rollbackable to any checkpoint it holds,
linked to its parent by ``meta.forked_from``. A fork of a session file from elsewhere
stays untrusted (``meta.untrusted_origin``), though it lives in the user's folder.

Without a worktree the fork works in the same workspace, whose files are those of now:
it carries the conversation only (as Codex's and Claude Code's forks do). With one, the
worktree (of the workspace's repository, detached at ``HEAD``) is made to hold exactly
the files of checkpoint N (``agent/history/worktree.py``), and the fork works there,
beside the original.

Example:
    >>> fork = fork_session(place, parent_path, at=2, worktree=Path("../try-2"))
    >>> fork.session.meta().forked_from, fork.root
    ('1m8c4x0q2b3zk', PosixPath('/home/me/try-2'))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentcli.agent.engine.launch import Place
    from agentcli.session.directory import SessionDirectory
    from agentcli.session.session import Session


@dataclass
class Fork:
    """A fork just made: its session (open as its writer: the caller closes it) and where it works."""

    session: Session
    parent: str  # the parent's id
    at: int | None  # the checkpoint it was cut at (None: the whole session)
    root: Path  # its workspace root
    worktree: Path | None = None  # the worktree made for it
    not_restored: list[str] = field(default_factory=list)  # files of N whose content was not stored


def fork_session(place: Place, parent: Path, *, at: int | None = None, worktree: Path | None = None,
                 sessions_for: Callable[[Path], SessionDirectory] | None = None) -> Fork:
    """Fork the session file ``parent`` at checkpoint ``at`` (None: whole), working in
    ``place.root`` — or, with ``worktree``, in a new git worktree at that folder holding
    the files of that checkpoint. The fork's file goes to ``sessions_for(its root)``
    (default: ``place.sessions``).

    Raises:
        UsageError: no such checkpoint, a worktree that cannot be made (the worktree is
            removed again), a parent that is not a whole session.
    """
    from agentcli.agent.history.worktree import add_worktree, remove_worktree

    root = place.root
    if worktree is not None:
        worktree = worktree.expanduser().absolute()
        root = add_worktree(place.root, worktree)
    try:
        folder = sessions_for(root) if sessions_for is not None else place.sessions
        return _fork(place, parent, at, root, worktree, folder)
    except BaseException:
        if worktree is not None:
            remove_worktree(place.root, worktree)
        raise


def _fork(place: Place, parent: Path, at: int | None, root: Path, worktree: Path | None,
          folder: SessionDirectory) -> Fork:
    from agentcli.agent.failpoints import failpoint
    from agentcli.agent.history.rollback import find_checkpoint
    from agentcli.agent.history.worktree import files_at, write_files
    from agentcli.agent.origin import session_origin
    from agentcli.session.fork import ForkLabel, cut_at, relabel, replace_baseline
    from agentcli.session.session import Session
    from agentcli.store.ids import new_id

    made = Fork(None, "", at, root, worktree)  # type: ignore[arg-type]  # filled in by make()
    fork_id = new_id()

    def make(copy: Session) -> None:
        meta = copy.meta()
        checkpoint = find_checkpoint(copy, at) if at is not None else None
        origin = session_origin(parent, place.sessions.path, meta.untrusted_origin)
        if worktree is not None:
            written = write_files(root, files_at(copy, checkpoint), copy.blobs, source_root=place.root)
            made.not_restored = written.not_restored
        if checkpoint is not None:
            cut_at(copy, checkpoint)
        if worktree is not None:
            replace_baseline(copy, written.states)
        untrusted = None if origin.trusted else (meta.untrusted_origin or str(parent.resolve()))
        relabel(copy, ForkLabel(fork_id, meta.id, at, str(root), untrusted))
        made.parent = meta.id

    folder.ensure()
    made.session = Session.fork(parent, folder.path / f"{fork_id}.sqlite", make, step=failpoint)
    return made
