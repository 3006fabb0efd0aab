"""The file modification log as the agent loop feeds it: checkpoints, shell side effects
and file-tool edits (SPEC §5).

Before-images come first: the first checkpoint stores the content of every file it
scans (deduplicated, compressed) and records the baseline in ``file_states``; every
later scan stores only what changed. So whatever a shell command does, what it
overwrote or deleted is already in the session. Changes found between commands were
made outside the agent: they move the baseline but are not logged as the agent's.

What the loop calls, and when:

- ``Tracker(session, root, exclude=[sessions_dir])`` once per run;
- :meth:`Tracker.checkpoint` when a prompt starts, before its user message is appended;
- :meth:`Tracker.before_shell` right before a ``run_shell`` command, and
  :meth:`Tracker.after_shell` right after it (also for a command found interrupted);
- :meth:`Tracker.log_edits` inside the transaction that journals a file-tool call,
  :meth:`Tracker.edits_applied` after it ran, :meth:`Tracker.reconcile_edits` for a call
  found ``running`` on resume;
- :meth:`Tracker.reload` after a rollback made in the same process.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from agentcli.agent.history.disk import (
    DEFAULT_MAX_FILE_BYTES,
    Side,
    after_side,
    before_side,
    change_op,
    disk_side,
    make_disk_show,
    safe_path,
    state_of,
)
from agentcli.agent.history.rollback import recover_interrupted
from agentcli.agent.history.scanner import Scanner, ScanResult, baseline_keys, trusted_key
from agentcli.agent.tools.reaper import become_subreaper
from agentcli.agent.workspace.edits import FileEdit
from agentcli.agent.workspace.jail import default_file_mode
from agentcli.agent.workspace.treewalk import TreeWalker, is_folder_mode
from agentcli.session.records import Checkpoint, FileChange
from agentcli.session.snapshots import PathState
from agentcli.store.blobs import PackedBlob, pack_blob

if TYPE_CHECKING:
    from agentcli.session.session import Session

__all__ = ["DEFAULT_MAX_FILE_BYTES", "Tracker"]

_NO_LIMIT = 1 << 62


class Tracker:
    """Keeps the session's picture of the workspace current and logs what the agent changed.

    Args:
        session: the session, open as its writer.
        workspace_root: the folder the agent works in.
        exclude: folders never scanned (the sessions folder); ``.git``, ``.gitignore``d
            paths and the session's own file are always left out.
        max_file_bytes: larger files are tracked by hash only and reported not restorable.
    """

    def __init__(self, session: Session, workspace_root: Path, exclude: Sequence[Path] = (),
                 max_file_bytes: int = DEFAULT_MAX_FILE_BYTES):
        self.session = session
        self.root = Path(os.path.realpath(workspace_root))
        own = Path(os.path.realpath(session.path))  # never track the session's own files
        mine = [own, *(own.with_name(own.name + extra) for extra in ("-wal", "-shm", "-journal", ".lock"))]
        self.exclude = [Path(os.path.realpath(p)) for p in exclude] + mine
        self.max_file_bytes = max_file_bytes
        self._walker = TreeWalker(self.root, self.exclude)  # remembers folder listings between scans
        self._baseline: dict[str, PathState] | None = None
        self._keys: dict[str, bytes] | None = None
        self._known: set[str] | None = None
        self._shell_started_ns: int | None = None
        self._recovered = False
        # Paths tracked once and hidden by ignore rules since: out of the baseline rows,
        # still watched so that what a command does to them can be rolled back.
        self._hidden: dict[str, PathState] = {}

    @property
    def baseline(self) -> dict[str, PathState]:
        """The last known state of every tracked path (loaded from the session once)."""
        if self._baseline is None:
            self._baseline = self.session.snapshots.states()
            self._keys = baseline_keys(self._baseline)
        return self._baseline

    def reload(self) -> None:
        """Forget the baseline cached in memory; the next call reads it from the session
        (after a rollback made in the same process). Known blob hashes stay: blobs are
        never deleted."""
        self._baseline = None
        self._keys = None

    def checkpoint(self, prompt_id: int) -> Checkpoint:
        """Bring the baseline up to date and record checkpoint N for prompt N.

        Call it when the prompt starts, before its user message is appended: the
        checkpoint's watermarks are the last message and the last file change so far.
        A prompt that already has a checkpoint (a resumed turn) gets that one back.
        """
        with self._commit(self._scan()):
            checkpoint = self.session.checkpoints.for_prompt(prompt_id)
            if checkpoint is None:
                files = len(self.baseline) - sum(1 for s in self.baseline.values() if s.hash is None)
                checkpoint = self.session.checkpoints.create(
                    prompt_id, self.session.transcript.last_id(), self.session.files.last_id(), files
                )
        return checkpoint

    def before_shell(self) -> None:
        """Make sure the baseline (and every before-image) is current before a command runs.

        Also makes agentcli a child subreaper before its first command, so whatever that
        command orphans comes back to agentcli to be ended (see ``tools/reaper.py``).
        """
        become_subreaper()
        result = self._scan()
        if result.upserts or result.deletes or result.blobs:
            with self._commit(result):
                pass
        self._shell_started_ns = time.time_ns()

    def after_shell(self, tool_call_id: int | None, prompt_id: int | None,
                    source: str = "run_shell") -> list[FileChange]:
        """Log what the command changed (rows of ``source``, after-images in ``blobs``); an
        MCP tool call with effects is scanned around like a command, under its own name.

        The rows, the blobs and the new baseline commit in one transaction. Returns the
        logged changes, ids set.
        """
        established = bool(self.baseline) or bool(self.session.checkpoints.all())
        result = self._scan(created_since_ns=self._shell_started_ns)
        self._shell_started_ns = None
        logged: list[FileChange] = []
        with self._commit(result):
            if established:  # never blame a command for a workspace we had not seen yet
                for old, new in result.changes:
                    change = _change_row(old, new, source, tool_call_id, prompt_id)
                    change.id = self.session.files.log(change)
                    logged.append(change)
        return logged

    def log_edits(self, tool_call_id: int, prompt_id: int | None, edits: Sequence[FileEdit]) -> list[int]:
        """Journal a file tool's edits as ``intended`` rows, contents in ``blobs``, before it acts.

        Call it inside the transaction that journals the tool call. Returns the row ids.
        """
        source = self.session.tool_calls.get(tool_call_id).name
        contents = {h: d for e in edits for d, h in ((e.before, e.before_hash), (e.after, e.after_hash))
                    if d is not None and h is not None}
        missing = self.session.snapshots.missing_blobs(contents)
        ids = []
        with self.session.transaction():
            self.session.snapshots.put_blobs(pack_blob(contents[h], h) for h in missing)
            for edit in edits:
                change = _edit_row(edit, source, tool_call_id, prompt_id)
                ids.append(self.session.files.log(change))
        return ids

    def edits_applied(self, tool_call_id: int) -> list[FileChange]:
        """Settle a file tool's ``intended`` rows by what the disk shows now: ``applied``
        when it shows the after side, else ``abandoned``. Returns the applied changes."""
        return self._settle(tool_call_id, complete=False)[0]

    def reconcile_edits(self, tool_call_id: int) -> str:
        """For a file-tool call cut short by a crash: finish edits the disk shows undone,
        settle the rest, and say in one line what was found."""
        _applied, notes = self._settle(tool_call_id, complete=True)
        return "; ".join(notes) if notes else "nothing was left to do"

    # -- internals --------------------------------------------------------------------
    def _recover(self) -> None:
        """Once per run, before the first scan: clear what a killed process left half
        done (its temporary files, a rollback cut short), so nothing of it is scanned."""
        if not self._recovered:
            recover_interrupted(self.session, self.root)
            self._recovered = True

    def _scan(self, created_since_ns: int | None = None) -> ScanResult:
        self._recover()
        if self._known is None:
            self._known = self.session.snapshots.blob_hashes()
        scanner = Scanner(self.root, exclude=self.exclude, max_file_bytes=self.max_file_bytes,
                          known_blobs=self._known, flush=self._flush, walker=self._walker)
        try:
            result = scanner.scan(self.baseline, created_since_ns, self._keys, self._hidden)
        except BaseException:
            self._known = None
            raise
        self._hidden = result.hidden
        return result

    def _flush(self, blobs: list[PackedBlob]) -> None:
        with self.session.transaction():
            self.session.snapshots.put_blobs(blobs)

    @contextlib.contextmanager
    def _commit(self, result: ScanResult) -> Iterator[None]:
        """One transaction: a scan's blobs and baseline rows, and what the caller adds.

        The in-memory baseline moves first (the caller may read it); a failed commit
        drops it, so the next call reads the session again.
        """
        self._remember(result)
        try:
            with self.session.transaction():
                self.session.snapshots.put_blobs(result.blobs)
                self.session.snapshots.save_states(result.upserts, result.deletes)
                yield
        except BaseException:
            self.reload()
            self._known = None  # hashes added for blobs that were never committed
            raise

    def _remember(self, result: ScanResult) -> None:
        baseline, keys = self.baseline, self._keys if self._keys is not None else {}
        for state in result.upserts:
            baseline[state.path] = state
            key = trusted_key(state)
            if key is None:
                keys.pop(state.path, None)
            else:
                keys[state.path] = key
        for rel in result.deletes:
            baseline.pop(rel, None)
            keys.pop(rel, None)
        self._keys = keys

    def _settle(self, tool_call_id: int, *, complete: bool) -> tuple[list[FileChange], list[str]]:
        if complete:
            self._recover()  # a write the crash cut short may have left its temporary file
        rows = self.session.files.intended(tool_call_id=tool_call_id)
        if not rows:
            return [], []
        applied: list[FileChange] = []
        notes: list[str] = []
        states: list[PathState] = []
        gone: list[str] = []
        for row in rows:
            path = safe_path(self.root, row.path)
            disk, after = disk_side(path, None, _NO_LIMIT, root=self.root), after_side(row)
            if complete and not _shows(disk, after) and _shows(disk, before_side(row)):
                make_disk_show(path, after, self.session.blobs, disk, root=self.root)
                disk = disk_side(path, None, _NO_LIMIT, root=self.root)
                notes.append(f"{row.path}: the edit was completed after the interruption")
            elif complete:
                notes.append(f"{row.path}: " + ("the edit had been applied" if _shows(disk, after)
                                                else "changed by something else, left as found"))
            if _shows(disk, after):
                row.status = "applied"
                applied.append(row)
                state = state_of(row.path, path, disk, root=self.root)
                if state is None:
                    gone.append(row.path)
                else:
                    states.append(state)
            else:
                row.status = "abandoned"
        folders = self._new_parent_folders(applied)
        with self.session.transaction():
            for row in rows:
                self.session.files.set_status(row.id or 0, row.status)
            for rel, folder in folders:
                self.session.files.log(FileChange(
                    path=rel, op="create", source=applied[0].source, after_mode=folder.mode,
                    prompt_id=applied[0].prompt_id, tool_call_id=tool_call_id,
                ))
            states.extend(folder for _rel, folder in folders)
            self.session.snapshots.save_states(states, gone)
        self._remember(ScanResult(upserts=states, deletes=gone))
        return applied, notes

    def _new_parent_folders(self, applied: list[FileChange]) -> list[tuple[str, PathState]]:
        """Folders a file tool created on its way to a new file (missing from the baseline)."""
        found: dict[str, PathState] = {}
        for change in applied:
            if change.op != "create":
                continue
            for parent in reversed(PurePosixPath(change.path).parents[:-1]):
                rel = parent.as_posix()
                if rel in found or rel in self.baseline:
                    continue
                state = state_of(rel, self.root / rel, Side(mode=0o040000), root=self.root)
                if state is not None and is_folder_mode(state.mode):
                    found[rel] = state
        return sorted(found.items())


def _edit_row(edit: FileEdit, source: str, tool_call_id: int, prompt_id: int | None) -> FileChange:
    before_mode = edit.before_mode if edit.before is not None else None
    after_mode = edit.after_mode
    if after_mode is None and edit.after is not None:
        after_mode = before_mode if before_mode is not None else default_file_mode()
    return FileChange(
        path=edit.path, op=edit.op, source=source, before_hash=edit.before_hash, after_hash=edit.after_hash,
        before_mode=before_mode, after_mode=after_mode,
        before_size=None if edit.before is None else len(edit.before),
        after_size=None if edit.after is None else len(edit.after),
        status="intended", prompt_id=prompt_id, tool_call_id=tool_call_id,
    )


def _shows(disk: Side, side: Side) -> bool:
    if side.absent:
        return disk.absent
    return disk.hash == side.hash and (side.mode is None or disk.mode == side.mode)


def _change_row(old: PathState | None, new: PathState | None, source: str, tool_call_id: int | None,
                prompt_id: int | None) -> FileChange:
    before, after = _side(old), _side(new)
    return FileChange(
        path=(new or old).path, op=change_op(before, after), source=source,  # type: ignore[union-attr]
        before_hash=before.hash, after_hash=after.hash, before_mode=before.mode, after_mode=after.mode,
        before_size=before.size, after_size=after.size,
        restorable=bool((old is None or old.restorable) and (new is None or new.restorable)),
        prompt_id=prompt_id, tool_call_id=tool_call_id,
    )


def _side(state: PathState | None) -> Side:
    if state is None:
        return Side()
    if is_folder_mode(state.mode):
        return Side(state.mode)
    return Side(state.mode, state.hash, state.size)
