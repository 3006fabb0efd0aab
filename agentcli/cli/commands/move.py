"""``move-sessions``: bring session files from the old ``./sessions`` folder into ``.agentcli/``.

agentcli used to keep sessions in ``sessions/`` at the workspace root, where they hid a
project's own ``sessions/`` package from the tools and could be committed. Those files
are still found and listed there; this command moves them to the sessions folder now in
use, across file systems too (copied, fsynced, then removed). A session a process is
driving is left where it is, and so is one the repository tracks (it came with a clone).
"""

from __future__ import annotations

from typer import Typer

from agentcli.cli.lean import LeanCommand
from agentcli.cli.options import DebugOpt, SessionsDirOpt, WorkspaceOpt, make_context


def move_sessions(workspace: WorkspaceOpt = None, sessions_dir: SessionsDirOpt = None,
                  debug: DebugOpt = False) -> None:
    """Move session files from the old ./sessions folder to .agentcli/sessions."""
    from agentcli.cli.render.text import clean
    from agentcli.session.directory import SessionDirectory

    ctx = make_context(workspace, sessions_dir)
    old = ctx.workspace_root / "sessions"
    target = ctx.sessions
    if target.legacy is None:  # --sessions-dir given: still move into it
        target = SessionDirectory(ctx.sessions.path, state_dir=ctx.state_dir, legacy=old)
    waiting = target.legacy_files()
    if not waiting:
        print(clean(f"no session files in {old}"))
        return
    moved = target.move_legacy()
    print(clean(f"moved {len(moved)} of {len(waiting)} session files from {old} to {target.path}"))
    left = len(waiting) - len(moved)
    if left:
        print(clean(f"{left} left in {old}: busy, tracked by git (they came with the repository), or a "
                    f"file of that name is already in {target.path}"))


def register(app: Typer) -> None:
    """Add ``move-sessions`` to ``app``."""
    app.command("move-sessions", cls=LeanCommand)(move_sessions)
