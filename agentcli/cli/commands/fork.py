"""``agentcli fork SESSION [--at N] [--worktree DIR]``: a new session from an old one (SPEC §5b).

The fork holds SESSION's conversation up to checkpoint N (the whole session by default)
and a ``forked_from`` link to it; ``--worktree DIR`` also makes a git worktree whose
files are those of checkpoint N, where the fork works beside the original. SESSION is
only read (``agent/fork.py``).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from agentcli.cli.lean import LeanCommand
from agentcli.cli.options import (
    DebugOpt,
    JsonOpt,
    SessionArg,
    SessionsDirOpt,
    WorkspaceOpt,
    make_context,
)

AtOpt = Annotated[
    Optional[int],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--at", metavar="N",
                 help="Cut at checkpoint N: the conversation before prompt N (default: the whole session)."),
]
WorktreeOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--worktree", metavar="DIR",
                 help="Also make a git worktree at DIR holding the files of checkpoint N; the fork works "
                      "there."),
]


def fork(session: SessionArg, at: AtOpt = None, worktree: WorktreeOpt = None, json_out: JsonOpt = False,
         workspace: WorkspaceOpt = None, sessions_dir: SessionsDirOpt = None,
         debug: DebugOpt = False) -> None:
    """Make a new session from SESSION: its conversation up to checkpoint N (--at; default all of
    it), linked to it; --worktree DIR also makes a git worktree with the files of checkpoint N.
    SESSION itself is never written."""
    from agentcli.agent.fork import fork_session
    from agentcli.cli.render.text import clean
    from agentcli.errors import UsageError

    if at is not None and at < 1:
        raise UsageError(f"--at takes a checkpoint number (agentcli checkpoints SESSION lists them), "
                         f"not {at}")
    ctx = make_context(workspace, sessions_dir)
    parent = ctx.sessions.resolve(session, ctx.workspace_root)
    made = fork_session(ctx.place, parent, at=at, worktree=worktree,
                        sessions_for=lambda root: make_context(root, sessions_dir).sessions)
    try:
        meta = made.session.meta()
        path = made.session.path
    finally:
        made.session.close()
    where = "" if made.worktree is None else f" -C {shlex.quote(str(made.root))}"
    resume = f"agentcli resume {meta.id}{where}"
    if json_out:
        from agentcli.cli.commands.inspect import print_json

        print_json({"session": meta.id, "path": str(path), "forked_from": made.parent, "forked_at": at,
                    "workspace_root": str(made.root),
                    "worktree": str(made.worktree) if made.worktree else None,
                    "not_restored": made.not_restored, "resume": resume})
        return
    what = "the whole session" if at is None else f"its conversation before prompt {at} (checkpoint {at})"
    print(clean(f"forked session {meta.id} from {made.parent}: {what}"))
    if made.worktree is not None:
        print(clean(f"worktree {made.worktree}: the files of "
                    f"{'the session now' if at is None else f'checkpoint {at}'}; the fork works there"))
    else:
        print("it works in this workspace, whose files are as they are now (--worktree DIR brings the "
              "checkpoint's files)")
    for rel in made.not_restored:
        sys.stderr.write(clean(f"agentcli: warning: {rel}: its content at that point was not stored "
                               "(over the size limit or unreadable); the worktree has git's version\n"))
    print(clean(f"go on with: {resume}"))


def register(app: typer.Typer) -> None:
    """Add ``fork`` to ``app``."""
    app.command(cls=LeanCommand)(fork)
