"""Read-only commands: list, show, log, export; and rm.

They open session files as WAL readers, so they work while another process drives
the session. ``rm`` alone takes the writer lock, to refuse a busy session. rich and
the renderers are imported inside the commands that need them: ``agentcli list``
must start fast.
"""

from __future__ import annotations

import contextlib
import enum
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from agentcli.cli.lean import LeanCommand
from agentcli.cli.options import (
    CliContext,
    DebugOpt,
    JsonOpt,
    SessionArg,
    SessionsDirOpt,
    WorkspaceOpt,
    make_context,
)
from agentcli.errors import SessionFileError, UsageError

if TYPE_CHECKING:
    from agentcli.session.session import Session


class ExportFormat(str, enum.Enum):
    """What ``export`` writes."""

    md = "md"
    json = "json"


AllOpt = Annotated[
    bool, typer.Option("--all", help="Every session in the folder, not only this workspace's.")
]
FollowOpt = Annotated[
    bool, typer.Option("--follow", "-f", help="Keep printing what a running session does until it stops.")
]
FullOpt = Annotated[bool, typer.Option("--full", help="Also print each request (as sent) and response.")]
CallOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--call", help="Only the model call with this ID (the log's first column)."),
]
FormatOpt = Annotated[ExportFormat, typer.Option("--format", help="md (Markdown) or json.")]
OutputOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--output", "-o", help="Write to this file instead of stdout."),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")]
ScoutsOpt = Annotated[bool, typer.Option("--scouts", help="List the session's scouts.")]
ScoutOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--scout", help="Show one scout's whole transcript (its id, e.g. scout-3-1)."),
]


def print_json(document: Any) -> None:
    """Write one JSON document to stdout."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def reading(ctx: CliContext, ref: str) -> Iterator[tuple[Session, bool]]:
    """Open the session ``ref`` names as a reader; also say whether it is busy.

    Its ``meta`` row is read first: a file whose row is missing, damaged or not UTF-8
    is refused (SessionFileError) by every command alike, whatever else it reads.
    """
    from agentcli.session.session import Session
    from agentcli.store.durable import damage_as_error, lock_path
    from agentcli.store.lock import is_locked

    path = ctx.sessions.resolve(ref, ctx.workspace_root)
    busy = is_locked(lock_path(path))
    with damage_as_error(path), Session.open(path, writer=False) as session:
        session.meta()
        yield session, busy


def list_sessions(all_: AllOpt = False, json_out: JsonOpt = False, workspace: WorkspaceOpt = None,
                  sessions_dir: SessionsDirOpt = None, debug: DebugOpt = False) -> None:
    """List the sessions of this workspace, oldest first (--all: every file in the folder)."""
    from agentcli.cli.render.text import clean, entry_json, fit_width, list_text, terminal_width

    ctx = make_context(workspace, sessions_dir)
    entries = ctx.sessions.entries(None if all_ else ctx.workspace_root)
    old = ctx.sessions.legacy_files()
    if old:
        sys.stderr.write(clean(f"agentcli: {len(old)} of these sessions are in the old folder "
                               f"{old[0].parent}: agentcli move-sessions moves them to .agentcli/sessions\n"))
    if json_out:
        print_json([entry_json(e) for e in entries])
    elif entries:
        width = terminal_width()
        text = clean(list_text(entries, show_workspace=all_, width=width))
        print(fit_width(text, width) if width else text)
    else:
        where = "" if all_ else f" of workspace {ctx.workspace_root}"
        hint = " (agentcli list --all shows every one there)" if not all_ else ""
        print(clean(f"no sessions{where} in {ctx.sessions.path}{hint}"))


def show(session: SessionArg, json_out: JsonOpt = False, follow: FollowOpt = False,
         scouts: ScoutsOpt = False, scout: ScoutOpt = None,
         workspace: WorkspaceOpt = None, sessions_dir: SessionsDirOpt = None,
         debug: DebugOpt = False) -> None:
    """Show a session: status, plan, transcript with tool calls, scouts, totals."""
    from agentcli.cli.follow import Tail
    from agentcli.cli.follow import follow as follow_session
    from agentcli.cli.render.session_view import load_view, show_json
    from agentcli.cli.render.show import ShowRenderer, make_console

    if json_out and follow:
        raise UsageError("--follow prints text as the session runs; it does not combine with --json")
    if follow and (scouts or scout):
        raise UsageError("--follow does not combine with --scouts or --scout")
    with reading(make_context(workspace, sessions_dir), session) as (opened, busy):
        view = load_view(opened, busy=busy)
        if scouts or scout:
            _show_scouts(view, scout, json_out)
            return
        if json_out:
            print_json(show_json(view))
            return
        renderer = ShowRenderer(make_console())
        if not follow:
            renderer.session(view)
            return
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C ends a follow: exit 0
            renderer.session(view)
            follow_session(opened, renderer, Tail.after(view))


def _show_scouts(view: Any, ref: str | None, json_out: bool) -> None:
    """``show --scouts`` (the list) or ``show --scout ID`` (one scout's transcript)."""
    from dataclasses import asdict

    from agentcli.cli.render.session_view import scout_json
    from agentcli.cli.render.show import ShowRenderer, make_console

    renderer = ShowRenderer(make_console())
    if ref is None:
        if json_out:
            print_json([asdict(s) for s in view.scouts])
        elif view.scouts:
            renderer.scouts(view.scouts)
        else:
            print(_clean(f"session {view.meta.id} has no scouts"))
        return
    found = next((s for s in view.scouts if ref in (s.agent, str(s.id))), None)
    if found is None:
        known = ", ".join(s.agent for s in view.scouts[:10]) or "none"
        raise UsageError(f"session {view.meta.id} has no scout {ref!r} (its scouts: {known})")
    if json_out:
        print_json(scout_json(view, found))
    else:
        renderer.scout(view, found)


def log(session: SessionArg, json_out: JsonOpt = False, full: FullOpt = False, call: CallOpt = None,
        workspace: WorkspaceOpt = None, sessions_dir: SessionsDirOpt = None,
        debug: DebugOpt = False) -> None:
    """Show the audit log: every model call attempt with its latency, tokens and status."""
    from agentcli.agent.config import configured_pricing
    from agentcli.cli.render.session_view import (
        audit_totals,
        model_call_full,
        model_call_summary,
        summaries_of,
    )
    from agentcli.cli.render.text import clean, fit_width, log_full_text, log_text, terminal_width

    with reading(make_context(workspace, sessions_dir), session) as (opened, _busy):
        pricing = configured_pricing(opened.meta().workspace_root)
        calls = opened.model_calls.all()
        totals = audit_totals(opened)
        if call is not None:
            calls = [c for c in calls if c.id == call]
            if not calls:
                raise UsageError(f"session {opened.id} has no model call {call} (agentcli log {opened.id} "
                                 "lists them)")
        messages = {m.id: m for m in opened.transcript.all()} if full else {}
        summaries = summaries_of(opened.compactions.all()) if full else {}
        if json_out:
            rows = [model_call_full(c, messages, summaries, pricing) if full
                    else model_call_summary(c, pricing) for c in calls]
            print_json({"session": opened.id, "model_calls": rows, "totals": totals})
            return
        width = terminal_width()
        text = clean(log_text(calls, totals, pricing, narrow=bool(width)))
        print(fit_width(text, width) if width else text)
        if full and calls:
            print("\n" + clean(log_full_text(calls, messages, summaries)), end="")


def export(session: SessionArg, fmt: FormatOpt = ExportFormat.md, output: OutputOpt = None,
           workspace: WorkspaceOpt = None, sessions_dir: SessionsDirOpt = None,
           debug: DebugOpt = False) -> None:
    """Export the whole session (meta, prompts, transcript, tool and model calls, file log,
    checkpoints, plan) as Markdown or JSON. File contents stay in the session's blobs."""
    from agentcli.cli.render.markdown import export_markdown
    from agentcli.cli.render.session_view import export_json, load_view

    with reading(make_context(workspace, sessions_dir), session) as (opened, busy):
        view = load_view(opened, busy=busy, everything=True)
    if fmt is ExportFormat.json:
        text = json.dumps(export_json(view), indent=2, ensure_ascii=False) + "\n"
    else:
        text = export_markdown(view)
    if output is None:
        from agentcli.cli.render.text import for_terminal

        sys.stdout.write(for_terminal(text, sys.stdout))  # piped: byte for byte
        return
    _refuse_session_file(output)
    try:
        # 0600 like the session itself: an export holds the whole transcript
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(output, 0o600)
    except OSError as err:
        raise UsageError(f"cannot write {output}: {err.strerror or err}") from None
    sys.stderr.write(_clean(f"exported session {view.meta.id} to {output}\n"))


def _refuse_session_file(output: Path) -> None:
    """An export never overwrites a session file (or its WAL, shared-memory or lock file)."""
    from agentcli.session.schema import APPLICATION_ID

    name = output.name
    if name.endswith((".sqlite-wal", ".sqlite-shm", ".sqlite.lock")):
        raise UsageError(f"not writing the export over {output}: it belongs to a session file")
    if not output.is_file():
        return
    try:
        with output.open("rb") as existing:
            header = existing.read(100)
    except OSError:
        return
    if header.startswith(b"SQLite format 3\x00") and header[68:72] == APPLICATION_ID.to_bytes(4, "big"):
        raise UsageError(f"not writing the export over {output}: it is an agentcli session file")


def rm(session: SessionArg, yes: YesOpt = False, workspace: WorkspaceOpt = None,
       sessions_dir: SessionsDirOpt = None, debug: DebugOpt = False) -> None:
    """Delete a session file (refused while a process is driving it)."""
    ctx = make_context(workspace, sessions_dir)
    path = ctx.sessions.resolve(session, ctx.workspace_root)
    if not yes and not sys.stdin.isatty():
        raise UsageError(f"not deleting {path} without confirmation: pass --yes")
    release, what = _lock_for_removal(path, in_folder=path.resolve().parent == ctx.sessions.path)
    try:
        if not yes and not typer.confirm(_clean(f"Delete {what}?"), default=False):
            sys.stderr.write("nothing deleted\n")
            return
        try:
            ctx.sessions.remove(path)
        except OSError as err:
            raise UsageError(
                f"cannot delete {path}: {err.strerror or err} (check the sessions folder's permissions)"
            ) from None
    finally:
        release()
    print(_clean(f"deleted {path}"))


def _lock_for_removal(path: Path, *, in_folder: bool) -> tuple[Callable[[], None], str]:
    """Hold the writer lock (SessionBusyError if busy); return its release and a description.

    The file is read first, as a reader: nothing is written to it, and no lock file
    appears beside a file that is refused. A bad file inside the sessions folder may be
    deleted; one named by a path elsewhere must be a readable session, so ``rm`` never
    deletes a stranger's file.
    """
    from agentcli.session.session import Session
    from agentcli.store.durable import damage_as_error, lock_path
    from agentcli.store.lock import WriterLock

    try:
        with damage_as_error(path), Session.open(path, writer=False) as opened:
            meta = opened.meta()
            what = f"session {meta.id} '{meta.title}' ({opened.transcript.count()} messages)"
    except SessionFileError as err:
        if not in_folder:
            raise
        what = f"the unreadable file {path} ({err})"
    lock = WriterLock(lock_path(path))
    lock.acquire(f"session {path.stem}")
    return lock.release, what


def register(app: typer.Typer) -> None:
    """Add the read-only commands (and ``rm``) to ``app``.

    The app's group is made lean too, unless it has a class of its own: its
    ``--help`` flag is coerced on every run, and would import pydantic for ``list``.
    """
    app.command("list", cls=LeanCommand)(list_sessions)
    app.command(cls=LeanCommand)(show)
    app.command(cls=LeanCommand)(log)
    app.command(cls=LeanCommand)(export)
    app.command(cls=LeanCommand)(rm)


def _clean(text: str) -> str:
    from agentcli.cli.render.text import clean

    return clean(text)
