"""``agentcli prune``: delete sessions by age, status or emptiness, never a busy one.

The selection is the session layer's (``session/prune.py``): every criterion given must
match. ``--dry-run`` lists what would go and deletes nothing; without ``--yes`` a person
at a terminal is asked once for the whole list, and a script must pass ``--yes``.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from agentcli.cli.lean import LeanCommand
from agentcli.cli.options import DebugOpt, JsonOpt, SessionsDirOpt, WorkspaceOpt, make_context
from agentcli.errors import UsageError

if TYPE_CHECKING:
    from agentcli.session.prune import Candidate

OlderOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--older-than", metavar="AGE",
                 help="Sessions not active for this long: 30d, 12h, 90m, 2w."),
]
StatusOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--status", metavar="WORDS",
                 help="Sessions with one of these statuses, separated by commas (e.g. failed,cancelled)."),
]
EmptyOpt = Annotated[
    bool, typer.Option("--empty", help="Sessions no model ever answered that changed no file."),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", "-n", help="List what would be deleted; delete nothing."),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")]
AllOpt = Annotated[
    bool, typer.Option("--all", help="Every session in the folder, not only this workspace's."),
]


def prune(older_than: OlderOpt = None, status: StatusOpt = None, empty: EmptyOpt = False,
          dry_run: DryRunOpt = False, yes: YesOpt = False, all_: AllOpt = False, json_out: JsonOpt = False,
          workspace: WorkspaceOpt = None, sessions_dir: SessionsDirOpt = None,
          debug: DebugOpt = False) -> None:
    """Delete sessions by age, status or emptiness (all the criteria given must match); a
    busy session is never deleted."""
    from agentcli.session.prune import PruneRule, delete, parse_age, parse_statuses, select

    rule = PruneRule(parse_age(older_than) if older_than is not None else None,
                     parse_statuses(status) if status is not None else frozenset(), empty)
    if not rule:
        raise UsageError("say which sessions to delete: --older-than AGE (e.g. 30d), --status WORDS "
                         "(e.g. failed,cancelled) or --empty; --dry-run shows them first")
    ctx = make_context(workspace, sessions_dir)
    scope = None if all_ or "error" in rule.statuses else ctx.workspace_root
    # the sessions folder's own files: not those an older agentcli left in ./sessions (a
    # repository may track them; move-sessions moves the others)
    own = [e for e in ctx.sessions.entries(scope) if e.path.parent == ctx.sessions.path]
    found = select(own, rule, now=datetime.now(timezone.utc))
    chosen = [c for c in found if c.kept is None]
    if chosen and not dry_run and not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"not deleting {len(chosen)} session{'s' * (len(chosen) != 1)} without "
                             "confirmation: pass --yes (or --dry-run to see them)")
        _show(found, dry_run=True)
        if not typer.confirm(f"Delete {len(chosen)} session{'s' * (len(chosen) != 1)}?", default=False):
            sys.stderr.write("nothing deleted\n")
            return
    deleted = [c for c in chosen if dry_run or delete(ctx.sessions, c)]
    if json_out:
        from agentcli.cli.commands.inspect import print_json

        print_json({"dry_run": dry_run, "deleted": [_json(c) for c in deleted],
                    "kept": [_json(c) for c in found if c.kept is not None]})
        return
    _show(found, dry_run=dry_run)
    kept = len(found) - len(deleted)
    verb = "would delete" if dry_run else "deleted"
    print(f"{verb} {len(deleted)} session{'s' * (len(deleted) != 1)}"
          + (f"; kept {kept} busy" if kept else ""))


def _show(found: list[Candidate], *, dry_run: bool) -> None:
    from agentcli.cli.render.text import clean, excerpt, local_time, table

    if not found:
        return
    rows = []
    for candidate in found:
        meta = candidate.entry.meta
        action = "kept (busy)" if candidate.kept else ("would delete" if dry_run else "deleted")
        rows.append([action, meta.id if meta else candidate.entry.path.stem, candidate.status,
                     local_time(meta.updated_at) if meta else "",
                     excerpt(meta.title if meta else candidate.entry.error, 60)])
    print(clean(table(["", "ID", "STATUS", "UPDATED", "TITLE"], rows)))


def _json(candidate: Candidate) -> dict[str, object]:
    meta = candidate.entry.meta
    return {"id": meta.id if meta else candidate.entry.path.stem, "path": str(candidate.entry.path),
            "status": candidate.status, "updated_at": meta.updated_at if meta else None,
            "title": meta.title if meta else None, "kept": candidate.kept}


def register(app: typer.Typer) -> None:
    """Add ``prune`` to ``app``."""
    app.command(cls=LeanCommand)(prune)
