"""Rollback: put the workspace and the conversation back to checkpoint N — and undo that.

The target of each path is the before-state of its first change logged after the
checkpoint's watermark; the path is expected to show the after-state of its last logged
change. A path that shows neither was changed outside agentcli since the agent last
touched it: the rollback stops before touching anything and names it
(:class:`RollbackConflictError`), unless forced. Only logged paths are ever touched.

A rollback is itself recorded — a ``rollbacks`` row, and ``file_changes`` rows with
source ``rollback`` written as ``intended`` before the disk is touched, ``applied``
after — so :func:`undo_last_rollback` can put back the state from just before it.

Example:
    >>> result = rollback(session, Path("/repo"), to=1)
    >>> result.restored, result.removed
    (['src/app.py'], ['build/out.bin'])
    >>> undo_last_rollback(session, Path("/repo")).restored
    ['build/out.bin', 'src/app.py']
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agentcli.agent.history.disk import (
    DEFAULT_MAX_FILE_BYTES,
    UNREADABLE,
    FolderNotEmptyError,
    Side,
    UnsafePathError,
    after_side,
    before_side,
    change_op,
    disk_side,
    make_disk_show,
    read_inside,
    safe_path,
    state_of,
)
from agentcli.agent.workspace.jail import remove_temporaries
from agentcli.agent.workspace.treewalk import is_folder_mode
from agentcli.errors import RollbackConflictError, UsageError
from agentcli.session.records import Checkpoint, FileChange
from agentcli.session.snapshots import PathState
from agentcli.store.blobs import DamagedBlobError, pack_blob

if TYPE_CHECKING:
    from agentcli.session.session import Session

# Given the new rollback's id, marks (or unmarks) the conversation: (messages, prompts).
ConversationStep = Callable[[int], tuple[int, int]]


class CheckpointNotFoundError(UsageError):
    """No such checkpoint in the session (or none at all yet)."""


class NothingToUndoError(UsageError):
    """``--undo`` with no rollback left to undo."""


@dataclass
class RollbackResult:
    """What a rollback (or an undo) did, for the summary a user sees."""

    rollback_id: int
    checkpoint_id: int | None
    mode: str  # files, conversation or both
    undo_of: int | None = None
    restored: list[str] = field(default_factory=list)  # written back (content, mode, folder)
    removed: list[str] = field(default_factory=list)  # files and folders the agent had created
    kept: list[str] = field(default_factory=list)  # folders left in place: they hold other files
    not_restorable: list[str] = field(default_factory=list)  # content over the size limit
    forced: list[str] = field(default_factory=list)  # changed outside agentcli, overwritten
    blocked: list[str] = field(default_factory=list)  # not restored: a folder of other files is there
    failed: list[str] = field(default_factory=list)  # "path: reason"
    messages: int = 0  # messages hidden (or shown again by an undo)
    prompts: int = 0
    # Every path this rollback was to put back and did not (blocked, failed, not
    # restorable): the rollback is ``partial`` when any, and the command exits 5.
    not_restored: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        """True when some path is not as the rollback was asked to leave it."""
        return bool(self.not_restored)


@dataclass
class _Plan:
    checkpoint_id: int | None
    mode: str
    targets: dict[str, Side]  # path -> state to restore
    expected: dict[str, Side]  # path -> state the log says the disk shows
    undo_of: int | None = None
    conversation: ConversationStep | None = None


@dataclass
class _Work:
    todo: dict[str, Side]  # path -> target, for the paths that must change
    current: dict[str, Side]  # path -> what the disk shows now
    where: dict[str, Path]  # path -> absolute path, checked to stay in the workspace


def rollback(session: Session, workspace_root: Path, *, to: int | None = None, files: bool = True,
             conversation: bool = True, force: bool = False,
             max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> RollbackResult:
    """Go back to checkpoint ``to`` (default: the last prompt's) on the chosen sides.

    Raises:
        CheckpointNotFoundError: no such checkpoint.
        RollbackConflictError: files changed outside agentcli (without ``force``).
    """
    if not files and not conversation:
        raise UsageError("choose files, the conversation, or both to roll back")
    root = Path(os.path.realpath(workspace_root))
    recover_interrupted(session, root)
    checkpoint = find_checkpoint(session, to)
    plan = _Plan(checkpoint.id, "both" if files and conversation else "files" if files else "conversation",
                 {}, {})
    if files:
        for change in session.files.since(checkpoint.last_file_change_id):
            plan.targets.setdefault(change.path, before_side(change))
            plan.expected[change.path] = after_side(change)
    if conversation:
        plan.conversation = _hide_after(session, checkpoint)
    return _carry_out(session, root, plan, force, max_file_bytes)


def undo_last_rollback(session: Session, workspace_root: Path, *, force: bool = False,
                       max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> RollbackResult:
    """Put back the state from just before the newest rollback not yet undone.

    Files and conversation are restored as that rollback changed them; the undo is
    recorded as a rollback of its own (``undo_of``).

    Raises:
        NothingToUndoError: no rollback left to undo.
        RollbackConflictError: files changed outside agentcli (without ``force``).
    """
    root = Path(os.path.realpath(workspace_root))
    recover_interrupted(session, root)
    last = session.rollbacks.last_undoable()
    if last is None:
        raise NothingToUndoError("there is no rollback to undo in this session")
    plan = _Plan(last.checkpoint_id, last.mode, {}, {}, undo_of=last.id)
    for change in session.rollbacks.changes(last.id, status="applied"):
        plan.targets.setdefault(change.path, before_side(change))
    for path, change in session.rollbacks.last_changes(plan.targets).items():
        plan.expected[path] = after_side(change)
    if last.mode != "files":
        def show_again(_rollback_id: int) -> tuple[int, int]:
            session.compactions.unmark_rolled_back(last.id)  # its summaries count again
            messages = session.transcript.unmark_rolled_back(last.id)
            session.scouts.unmark_rolled_back(last.id)
            return messages, session.prompts.unmark_rolled_back(last.id)

        plan.conversation = show_again
    return _carry_out(session, root, plan, force, max_file_bytes)


def find_checkpoint(session: Session, number: int | None) -> Checkpoint:
    """Checkpoint ``number``, or by default that of the newest prompt not rolled back."""
    if number is None:
        checkpoint = session.rollbacks.latest_live_checkpoint()
        if checkpoint is None:
            raise CheckpointNotFoundError("this session has no checkpoint to go back to (no prompt ran yet)")
        return checkpoint
    try:
        return session.checkpoints.get(number)
    except KeyError:
        raise CheckpointNotFoundError(
            f"no checkpoint {number} in this session (agentcli checkpoints SESSION lists them)"
        ) from None


def recover_interrupted(session: Session, root: Path) -> None:
    """Clear what a dead process left half done: the temporary files of the writes it
    had journaled (file tools and rollbacks), and rollbacks left ``running``, settled row
    by row as the disk shows. Call it holding the session as its writer."""
    for row in session.files.unsettled():
        with contextlib.suppress(UnsafePathError):
            remove_temporaries(safe_path(root, row.path), root=root)
    for record in session.rollbacks.running():
        with session.transaction():
            for row in session.files.intended(rollback_id=record.id):
                disk = disk_side(safe_path(root, row.path), None, 0, root=root)
                status = "applied" if disk.same(after_side(row)) else "abandoned"
                session.files.set_status(row.id or 0, status)
            session.rollbacks.finish(record.id, "interrupted", {"note": "agentcli stopped during it"})


def _hide_after(session: Session, checkpoint: Checkpoint) -> ConversationStep:
    def hide(rollback_id: int) -> tuple[int, int]:
        # a summary made after the checkpoint no longer counts: the context of that time returns
        session.compactions.mark_rolled_back(checkpoint.last_message_id, rollback_id)
        messages = session.transcript.mark_rolled_back(checkpoint.last_message_id, rollback_id)
        prompts = 0
        if checkpoint.prompt_id is not None:
            prompts = session.prompts.mark_rolled_back(checkpoint.prompt_id - 1, rollback_id)
            session.scouts.mark_rolled_back(checkpoint.prompt_id - 1, rollback_id)
        return messages, prompts

    return hide


def _carry_out(session: Session, root: Path, plan: _Plan, force: bool, max_bytes: int) -> RollbackResult:
    """Check, record, restore, settle: the part a rollback and an undo share."""
    # A content never read (mode 000) matches nothing: not even an earlier unreadable state.
    paths = sorted(p for p, t in plan.targets.items() if _unknown(t) or not t.same(plan.expected.get(p, t)))
    known = session.snapshots.states_for(paths)
    where = {p: safe_path(root, p) for p in paths}
    current = {p: disk_side(where[p], known.get(p), 0, root=root) for p in paths}
    todo = {p: t for p in paths if _unknown(t := plan.targets[p]) or not current[p].same(t)}
    missing = session.snapshots.missing_blobs(t.hash for t in todo.values() if t.hash)
    not_restorable = sorted(p for p, t in todo.items() if t.hash in missing)  # over the size limit, unread
    for path in not_restorable:
        del todo[path]
    conflicts = sorted(p for p in todo if _unknown(current[p]) or not current[p].same(plan.expected[p]))
    if conflicts and not force:
        shown = ", ".join(conflicts[:5]) + (f" and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        raise RollbackConflictError(
            f"{len(conflicts)} file(s) changed outside agentcli since the agent last touched them "
            f"({shown}); nothing was rolled back (--force overwrites them)",
            conflicts,
        )
    result = RollbackResult(0, plan.checkpoint_id, plan.mode, plan.undo_of, not_restorable=not_restorable)
    work = _Work(todo, current, where)
    rows = _record_intent(session, root, plan, work, force, max_bytes, result)
    applied = _apply(session, root, work, result, conflicts)
    result.forced = [p for p in conflicts if p in applied]  # only what was really overwritten
    result.not_restored = sorted(set(todo) - applied - set(result.kept) | set(result.not_restorable))
    states: list[PathState] = []
    gone: list[str] = []
    for path in applied:
        state = state_of(path, where[path], todo[path], root=root)
        if state is None:
            gone.append(path)
        else:
            states.append(state)
    with session.transaction():
        for path, row in rows.items():
            session.files.set_status(row.id or 0, "applied" if path in applied else "abandoned")
        session.snapshots.save_states(states, gone)
        if plan.conversation is not None:
            result.messages, result.prompts = plan.conversation(result.rollback_id)
        summary = {k: v for k, v in vars(result).items() if k not in ("rollback_id", "checkpoint_id", "mode")}
        status = "partial" if result.partial else "done"
        session.rollbacks.finish(result.rollback_id, status, summary)
    return result


def _unknown(side: Side) -> bool:
    """A file whose content this process could not read: it matches no logged state."""
    return side.hash == UNREADABLE


def _record_intent(session: Session, root: Path, plan: _Plan, work: _Work, force: bool, max_bytes: int,
                   result: RollbackResult) -> dict[str, FileChange]:
    """Commit the rollback row and its ``intended`` changes before the disk is touched.

    Content about to be overwritten that the session lacks (changed outside agentcli,
    overwritten with ``force``) is stored first, so the undo can bring it back.
    """
    todo, current, where = work.todo, work.current, work.where
    unsaved = session.snapshots.missing_blobs(c.hash for c in current.values() if c.hash)
    keep = []
    restorable = {p: True for p in todo}
    for path in todo:
        side = current[path]
        if side.hash in unsaved:
            read = read_inside(where[path], root, max_bytes)
            digest, data = read if read is not None else (None, None)
            if data is None or digest != side.hash:
                restorable[path] = False
            else:
                keep.append(pack_blob(data, digest))
    rows = {}
    with session.transaction():
        result.rollback_id = session.rollbacks.begin(plan.checkpoint_id, plan.mode, forced=force,
                                                     undo_of=plan.undo_of)
        session.snapshots.put_blobs(keep)
        for path, target in todo.items():
            before = current[path]
            row = FileChange(
                path=path, op=change_op(before, target), source="rollback", before_hash=before.hash,
                after_hash=target.hash, before_mode=before.mode, after_mode=target.mode,
                before_size=before.size, after_size=target.size, restorable=restorable[path],
                status="intended", rollback_id=result.rollback_id,
            )
            row.id = session.files.log(row)
            rows[path] = row
    return rows


def _apply(session: Session, root: Path, work: _Work, result: RollbackResult,
           conflicts: list[str]) -> set[str]:
    """Make the disk show every target: removals first (folders deepest first), then
    folders (shallowest first), then files. Returns the paths done.

    A folder holding files agentcli never tracked is never deleted, ``--force`` or not:
    those files are not the session's to revert. A folder the session created is then
    simply kept (its own files are gone); anything else that folder stands in the way
    of is not restored (``blocked``).
    """
    todo, current, where = work.todo, work.current, work.where

    def order(path: str) -> tuple[int, int, str]:
        target, depth = todo[path], path.count("/")
        if target.absent:
            return (1, -depth, path) if is_folder_mode(current[path].mode) else (0, 0, path)
        return (2, depth, path) if is_folder_mode(target.mode) else (3, 0, path)

    applied: set[str] = set()
    for path in sorted(todo, key=order):
        try:
            make_disk_show(where[path], todo[path], session.blobs, current[path], root=root)
        except FolderNotEmptyError:
            wanted_gone = todo[path].absent and path not in conflicts
            (result.kept if wanted_gone else result.blocked).append(path)
            continue
        except KeyError:
            result.not_restorable.append(path)
            continue
        except DamagedBlobError:  # never written back: the bytes are not what was recorded
            result.failed.append(f"{path}: its stored content is damaged (does not match its SHA-256)")
            continue
        except OSError as err:
            result.failed.append(f"{path}: {err.strerror or err}")
            continue
        applied.add(path)
        (result.removed if todo[path].absent else result.restored).append(path)
    return applied


def rollback_notes(result: RollbackResult) -> list[str]:
    """One line per path a rollback overwrote, kept or could not put back (the terminal's
    ``/rollback`` and ``/undo`` print the same)."""
    notes = [f"overwrote {p}: it had been changed outside agentcli (--force)" for p in result.forced]
    notes += [f"not restorable: {p} (its content was never stored: over max_file_bytes, or unreadable)"
              for p in result.not_restorable]
    notes += [f"kept folder {p}: it holds files agentcli did not create" for p in result.kept]
    notes += [f"not restored: {p} is now a folder holding files agentcli did not create (kept as it is)"
              for p in result.blocked]
    notes += [f"could not restore {p}" for p in result.failed]
    return notes


def partial_message(result: RollbackResult, session_id: str) -> str | None:
    """The line that says a rollback is partial and names what it left, or None when whole."""
    left = result.not_restored
    if not left:
        return None
    shown = ", ".join(left[:5]) + (f" and {len(left) - 5} more" if len(left) > 5 else "")
    return (f"rollback {result.rollback_id} is partial: {len(left)} path(s) not restored ({shown}); "
            f"everything else was rolled back (agentcli rollback {session_id} --undo reverts it)")
