"""A fork's rows: a copy of the parent's, cut at checkpoint N, under an identity of its own.

Checkpoint N is the state just before prompt N. Its watermarks say exactly what came
before it: the messages up to ``last_message_id`` (every agent's: scouts' rows are
numbered in the same sequence), the file changes up to ``last_file_change_id``, the
prompts before N's. Everything else follows from those: tool calls of the kept
messages, the scouts and plans of the kept tool calls, the model calls of the kept
prompts (and of the compactions kept), the rollbacks made before the checkpoint was
taken. Marks left by a rollback that is cut (``rolled_back_by``, ``undone_by``) are
cleared: in the fork it never happened. Blobs are content-addressed and all kept.

Example:
    >>> cut_at(session, session.checkpoints.get(3))     # the conversation before prompt 3
    >>> relabel(session, ForkLabel("1m8c...", parent="1m7b...", at=3, workspace_root="/repo"))
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentcli.session.records import now_iso

if TYPE_CHECKING:
    from agentcli.session.records import Checkpoint
    from agentcli.session.session import Session
    from agentcli.session.snapshots import PathState

_KEPT_TOOL_CALLS = "(SELECT id FROM tool_calls)"


@dataclass(frozen=True)
class ForkLabel:
    """Who the fork is: its id, its parent, where it was cut, where it works."""

    id: str
    parent: str
    at: int | None  # the checkpoint it was cut at; None: the whole parent
    workspace_root: str
    untrusted_origin: str | None = None  # the parent was a file from elsewhere: that file


def cut_at(session: Session, checkpoint: Checkpoint) -> None:
    """Delete every row that came after ``checkpoint`` was taken (see the module docstring).
    Call it inside the transaction that makes the fork."""
    db = session.db
    with session.transaction():
        taken = checkpoint.created_at
        db.execute("DELETE FROM checkpoints WHERE id >= ?", [checkpoint.id])
        if checkpoint.prompt_id is not None:
            db.execute("DELETE FROM prompts WHERE id >= ?", [checkpoint.prompt_id])
        db.execute("DELETE FROM messages WHERE id > ?", [checkpoint.last_message_id])
        db.execute("DELETE FROM tool_calls WHERE message_id > ?", [checkpoint.last_message_id])
        db.execute(f"DELETE FROM scouts WHERE tool_call_id NOT IN {_KEPT_TOOL_CALLS}")
        db.execute(f"DELETE FROM tasks WHERE plan_id NOT IN {_KEPT_TOOL_CALLS}")
        db.execute("DELETE FROM compactions WHERE at_message_id > ? OR last_message_id > ? OR prompt_id >= ?",
                   [checkpoint.last_message_id, checkpoint.last_message_id, checkpoint.prompt_id or 0])
        db.execute("DELETE FROM model_calls WHERE prompt_id >= ? OR (prompt_id IS NULL AND (compaction_id IS "
                   "NULL OR compaction_id NOT IN (SELECT id FROM compactions)))", [checkpoint.prompt_id or 0])
        db.execute("DELETE FROM file_changes WHERE id > ?", [checkpoint.last_file_change_id])
        db.execute("DELETE FROM approvals WHERE created_at > ? OR (tool_call_id IS NOT NULL AND tool_call_id "
                   f"NOT IN {_KEPT_TOOL_CALLS})", [taken])
        db.execute("DELETE FROM rollbacks WHERE created_at > ?", [taken])
        db.execute("DELETE FROM mcp_tools WHERE first_seen_at > ?", [taken])
        _forget_cut_rollbacks(session)


def _forget_cut_rollbacks(session: Session) -> None:
    kept = "(SELECT id FROM rollbacks)"
    for table in ("messages", "prompts", "scouts", "compactions"):
        session.db.execute(f"UPDATE {table} SET rolled_back_by = NULL WHERE rolled_back_by NOT IN {kept}")
    session.db.execute(f"UPDATE rollbacks SET undone_by = NULL WHERE undone_by NOT IN {kept}")


def relabel(session: Session, label: ForkLabel) -> None:
    """Give the copy the fork's identity: its id, its link to the parent, its workspace, a
    fresh creation time; a fork cut before a prompt is ``idle`` (the prompts it holds ended)."""
    now = now_iso()
    with session.transaction():
        session.db.execute(
            "UPDATE meta SET id = ?, forked_from = ?, forked_at = ?, untrusted_origin = ?, "
            "workspace_root = ?, created_at = ?, updated_at = ?",
            [label.id, label.parent, label.at, label.untrusted_origin, label.workspace_root, now, now])
        if label.at is not None:
            session.db.execute("UPDATE meta SET status = 'idle'")


def replace_baseline(session: Session, states: Iterable[PathState]) -> None:
    """Make ``states`` the fork's whole picture of its workspace (a fork with files of its own)."""
    with session.transaction():
        session.db.execute("DELETE FROM file_states")
        session.snapshots.save_states(states)
