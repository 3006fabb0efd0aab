"""``rollback``, ``checkpoints`` and ``diff`` (SPEC §5).

``rollback`` drives the session, so it takes the single-writer lock (a busy session is
refused, exit 4); ``checkpoints`` and ``diff`` read, and work while a session runs.
Files are restored into the ``-C`` workspace: paths in a session file are relative.
"""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from agentcli.agent.history.rollback import partial_message, rollback_notes
from agentcli.cli.commands.inspect import print_json, reading
from agentcli.cli.lean import LeanCommand
from agentcli.cli.options import (
    DebugOpt,
    JsonOpt,
    SessionArg,
    SessionsDirOpt,
    WorkspaceOpt,
    make_context,
)
from agentcli.cli.render.text import clean
from agentcli.errors import RollbackConflictError, UsageError

if TYPE_CHECKING:
    from agentcli.agent.history.rollback import RollbackResult

ToOpt = Annotated[
    Optional[int],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--to", min=1, help="Checkpoint N, the state before prompt N (default: the last prompt's)."),
]
FilesOnlyOpt = Annotated[bool, typer.Option("--files-only", help="Restore the files, keep the conversation.")]
ConversationOnlyOpt = Annotated[
    bool, typer.Option("--conversation-only", help="Hide the rolled-back messages, keep the files.")
]
UndoOpt = Annotated[bool, typer.Option("--undo", help="Revert the last rollback (files and conversation).")]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Overwrite files changed outside agentcli since the agent's change.")
]


def rollback_command(session: SessionArg, to: ToOpt = None, files_only: FilesOnlyOpt = False,
                     conversation_only: ConversationOnlyOpt = False, undo: UndoOpt = False,
                     force: ForceOpt = False, workspace: WorkspaceOpt = None,
                     sessions_dir: SessionsDirOpt = None, debug: DebugOpt = False) -> None:
    """Restore files and conversation to a checkpoint (default: undo the last prompt)."""
    from agentcli.agent.history.rollback import rollback, undo_last_rollback
    from agentcli.session.session import Session
    from agentcli.store.durable import damage_as_error

    if files_only and conversation_only:
        raise UsageError("--files-only and --conversation-only exclude each other (give neither for both)")
    if undo and (to is not None or files_only or conversation_only):
        raise UsageError("--undo reverts the last rollback as it was: it takes no --to or --*-only")
    ctx = make_context(workspace, sessions_dir)
    path = ctx.sessions.resolve(session, ctx.workspace_root)
    with damage_as_error(path), Session.open(path, writer=True) as opened:
        if workspace is None:
            _check_workspace(opened.meta().workspace_root, ctx.workspace_root)
        try:
            if undo:
                result = undo_last_rollback(opened, ctx.workspace_root, force=force)
            else:
                result = rollback(opened, ctx.workspace_root, to=to, files=not conversation_only,
                                  conversation=not files_only, force=force)
        except RollbackConflictError as err:
            for changed in err.paths:
                sys.stderr.write(clean(f"  changed outside agentcli: {changed}\n"))
            raise
        sys.stdout.write(clean(_summary(result, opened.id)))
    for line in rollback_notes(result):
        sys.stderr.write(clean(f"agentcli: {line}\n"))
    _refuse_partial(result, opened.id)


def checkpoints(session: SessionArg, json_out: JsonOpt = False, workspace: WorkspaceOpt = None,
                sessions_dir: SessionsDirOpt = None, debug: DebugOpt = False) -> None:
    """List the rollback points: checkpoint N is the state just before prompt N.

    Its files are what git sees: tracked files (ignored or not) and untracked ones
    .gitignore does not match.
    """
    ctx = make_context(workspace, sessions_dir)
    with reading(ctx, session) as (opened, _busy):
        infos = opened.rollbacks.overview()
        records = opened.rollbacks.all()
        if json_out:
            print_json({"session": opened.id, "checkpoints": [asdict(i) for i in infos],
                        "rollbacks": [asdict(r) for r in records]})
            return
    if not infos:
        sys.stdout.write("No checkpoints yet: one is taken when each prompt starts.\n")
        return
    lines = [f"{'N':>3}  {'created':19}  {'files':>6}  {'changes':>7}  prompt\n"]
    for info in infos:
        prompt = " ".join(info.prompt.split())
        prompt = prompt[:60] + "…" if len(prompt) > 61 else prompt
        note = f"  (rolled back by rollback {info.rolled_back_by})" if info.rolled_back_by else ""
        files = "" if info.file_count is None else str(info.file_count)
        lines.append(f"{info.id:>3}  {info.created_at[:19].replace('T', ' ')}  {files:>6}  "
                     f"{info.changes:>7}  {prompt}{note}\n")
    for record in records:
        what = f"to checkpoint {record.checkpoint_id}"
        if record.undo_of:
            what = f"undo of rollback {record.undo_of}"
        undone = f", undone by rollback {record.undone_by}" if record.undone_by else ""
        lines.append(f"rollback {record.id}: {what} ({record.mode}, {record.status}{undone})\n")
    sys.stdout.write(clean("".join(lines)))


def diff(session: SessionArg, to: ToOpt = None, workspace: WorkspaceOpt = None,
         sessions_dir: SessionsDirOpt = None, debug: DebugOpt = False) -> None:
    """Show the unified diff of the agent's changes since checkpoint N (default: the last prompt's).

    Every file git sees is in it: tracked files (ignored or not) and untracked ones
    .gitignore does not match.
    """
    from agentcli.agent.history.diff import diff_since
    from agentcli.agent.history.rollback import find_checkpoint

    ctx = make_context(workspace, sessions_dir)
    with reading(ctx, session) as (opened, _busy):
        number = find_checkpoint(opened, to).id
        text = diff_since(opened, number)
    if not text:
        hint = " (--to 1 shows the whole session)" if number > 1 else ""
        sys.stderr.write(f"No changes since checkpoint {number}{hint}.\n")
    elif sys.stdout.isatty():
        from rich.syntax import Syntax

        from agentcli.cli.render.console import CleanConsole

        CleanConsole().print(Syntax(text, "diff", theme="ansi_dark", background_color="default",
                                    word_wrap=True))
    else:
        sys.stdout.write(text)


def _check_workspace(recorded: str, here: Path) -> None:
    """Refuse to restore files into a folder that is not the session's workspace, unless
    ``-C`` names it (a session file is portable: paths inside are relative)."""
    if os.path.realpath(recorded) != os.path.realpath(here):
        raise UsageError(
            f"this session's workspace is {recorded}, not {here}: run the command there, "
            "or pass -C WORKSPACE to restore into another checkout of the same tree"
        )


def _summary(result: RollbackResult, session_id: str) -> str:
    sides = {"both": "files and conversation", "files": "files only", "conversation": "conversation only"}
    side = sides[result.mode]
    if result.undo_of is not None:
        head = f"Undid rollback {result.undo_of} ({side}) as rollback {result.rollback_id}.\n"
    else:
        head = f"Rolled back to checkpoint {result.checkpoint_id} ({side}): rollback {result.rollback_id}.\n"
    lines = [head]
    lines += [f"  restored  {p}\n" for p in result.restored]
    lines += [f"  removed   {p}\n" for p in result.removed]
    if result.mode != "conversation" and not (result.restored or result.removed or result.blocked
                                                  or result.failed or result.kept):
        lines.append("  no file needed restoring\n")
    if result.mode != "files":
        verb = "shown again" if result.undo_of is not None else "hidden from the model (kept in the session)"
        lines.append(f"  {result.messages} message(s) and {result.prompts} prompt(s) {verb}\n")
    if result.undo_of is None:
        lines.append(f"Undo it with: agentcli rollback {session_id} --undo\n")
    return "".join(lines)


def _refuse_partial(result: RollbackResult, session_id: str) -> None:
    """Exit 5 when some path was not put back, even with ``--force``: the rollback is
    recorded (``partial``) and the rest of it stands, but it is not what was asked."""
    message = partial_message(result, session_id)
    if message is not None:
        raise RollbackConflictError(message, result.not_restored)


def register(app: typer.Typer) -> None:
    """Add ``rollback``, ``checkpoints`` and ``diff`` to ``app``."""
    app.command("rollback", cls=LeanCommand)(rollback_command)
    app.command(cls=LeanCommand)(checkpoints)
    app.command(cls=LeanCommand)(diff)
