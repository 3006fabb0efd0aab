"""``new`` and ``resume``: the settings of the run, its session file, and the client that drives it.

Both commands end here: the settings are resolved and the session created (or opened as
its single writer) through the engine's launch rules, then one of two clients drives
the engine — the terminal for a person, the scripted runner otherwise — and the
session is closed once the engine has joined its threads.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcli.cli.options import CliContext, RunOptions
from agentcli.cli.terminal.sessions import TerminalSessions
from agentcli.errors import UsageError

if TYPE_CHECKING:
    from agentcli.agent.config import Settings
    from agentcli.agent.engine.engine import Engine
    from agentcli.agent.origin import SessionOrigin
    from agentcli.session.session import Session


def settings_for(ctx: CliContext, options: RunOptions, remembered: dict[str, Any] | None = None,
                 origin: SessionOrigin | None = None) -> Settings:
    """The run's settings (see :func:`~agentcli.agent.engine.launch.run_settings`); its
    warnings and notes go to stderr."""
    from agentcli.agent.engine.launch import run_settings
    from agentcli.cli.render.text import clean

    settings = run_settings(ctx.place, options.flags, remembered, origin)
    for warning in settings.warnings:
        sys.stderr.write(clean(f"agentcli: warning: {warning}\n"))
    for note in settings.notes:
        sys.stderr.write(clean(f"agentcli: {note}\n"))
    return settings


def start_session(ctx: CliContext, options: RunOptions) -> int:
    """``agentcli new`` (and ``agentcli`` alone): create the session file with its first
    prompt, then drive it. A terminal without a prompt creates none until one is typed;
    a run refused before any model call (a bad option, a budget that cannot be kept)
    leaves no file."""
    from agentcli.agent.engine.launch import check_startable, create_session
    from agentcli.cli.prompt_input import read_prompt

    prompt = read_prompt(options, required=True)
    settings = settings_for(ctx, options)
    check_startable(settings)  # what the engine would refuse: refused before a file is made
    with retention(ctx, settings):
        if options.interactive and prompt is None:
            from agentcli.cli.startup import started

            started()
            return run_terminal(ctx, None, settings, options, resumed=False)
        source = "stdin" if options.prompt in (None, "-") else "argument"
        session = create_session(ctx.place, settings, prompt, source)
        keep = False
        try:
            code, keep = _drive(ctx, session, settings, options, resumed=False)
        except BaseException:
            keep = holds_work(session)
            raise
        finally:
            session.close()
            if not keep:  # refused, or never answered: opened and quit, a bad key (the advice said so)
                ctx.sessions.remove(session.path)
        return code


@contextlib.contextmanager
def retention(ctx: CliContext, settings: Settings, keep: Path | None = None) -> Iterator[None]:
    """``retention_days``: as the run starts (once a day per sessions folder), delete this
    workspace's sessions not active for that many days (never ``keep``, the one being
    resumed, nor a busy one); once it ends, say so on stderr (the session's own lines first)."""
    gone: list[object] = []
    if settings.retention_days:
        from datetime import datetime, timezone

        from agentcli.session.prune import delete, expired, mark_checked, retention_due

        now = datetime.now(timezone.utc)
        if retention_due(ctx.sessions.path, now=now):
            old = expired(ctx.sessions, ctx.workspace_root, settings.retention_days, now=now, keep=keep)
            gone = [c for c in old if delete(ctx.sessions, c)]
            mark_checked(ctx.sessions.path)
    try:
        yield
    finally:
        if gone:
            where = settings.sources.get("retention_days", "config")
            sys.stderr.write(f"agentcli: deleted {len(gone)} session{'s' * (len(gone) != 1)} not active for "
                             f"{settings.retention_days} days (retention_days, {where})\n")


def holds_work(session: Session) -> bool:
    """Whether a session this run created is worth keeping after its run stopped on an
    error: it is once a model call was made (its audit row says what happened)."""
    try:
        return session.model_calls.last_id() > 0
    except Exception:  # noqa: BLE001 - the file itself may be what failed: keep it
        return True


def resume_session(ctx: CliContext, ref: str | None, options: RunOptions, *, explicit_workspace: bool) -> int:
    """``agentcli resume``: open the file as its single writer and carry on from it.

    Without ``ref``, a person at a terminal picks one of the workspace's sessions.
    """
    from agentcli.cli.prompt_input import read_prompt
    from agentcli.store.durable import damage_as_error

    path = _picked(ctx, options) if ref is None else ctx.sessions.resolve(ref, ctx.workspace_root)
    prompt = read_prompt(options, required=False)
    # Opening checks the file before its first write; damage met later (a blob read
    # by a restore, say) still ends as one line, exit 2.
    with damage_as_error(path):
        return _resume(ctx, path, prompt, options, explicit_workspace=explicit_workspace)


def _resume(ctx: CliContext, path: Path, prompt: str | None, options: RunOptions, *,
            explicit_workspace: bool) -> int:
    ctx, session, settings = reopen(ctx, path, options, explicit_workspace=explicit_workspace)
    try:
        with retention(ctx, settings, keep=path):
            if prompt is not None:
                session.add_prompt(prompt, source="stdin" if options.prompt in (None, "-") else "argument")
            return _drive(ctx, session, settings, options, resumed=True)[0]
    finally:
        session.close()


def reopen(ctx: CliContext, path: Path, options: RunOptions, *,
           explicit_workspace: bool) -> tuple[CliContext, Session, Settings]:
    """Open the session file at ``path`` as its single writer, with the settings of this
    run, as ``resume`` does for every client: a file from elsewhere (or a fork of one)
    decides nothing, a trusted one works in the workspace it recorded (unless
    ``explicit_workspace``), the run's secrets are redacted before the first write. The
    caller closes the session.

    Raises:
        SessionBusyError: another process drives it (nothing was written).
        UsageError: bad settings, or a run the engine would refuse (the file is closed).
    """
    from agentcli.agent.engine.launch import check_startable, remembered_settings, run_secrets
    from agentcli.agent.origin import session_origin
    from agentcli.cli.render.text import clean
    from agentcli.session.session import Session

    session = Session.open(path, writer=True)
    try:
        meta = session.meta()
        # a file from elsewhere decides nothing, nor does a fork of one
        origin = session_origin(path, ctx.sessions.path, meta.untrusted_origin)
        recorded = Path(meta.workspace_root)
        if origin.trusted and not explicit_workspace and recorded.is_dir() and recorded != ctx.workspace_root:
            ctx = CliContext(recorded, ctx.sessions)
        adopt = None if explicit_workspace else recorded
        if (withheld := origin.withhold(session, adopt, ctx.workspace_root)) is not None:
            sys.stderr.write(clean(f"agentcli: warning: {withheld}\n"))
        settings = settings_for(ctx, options, meta.settings, origin)
        check_startable(settings)
        session.redact_secrets(run_secrets(settings))  # before the first write: the prompt may hold them
        session.update_meta(model=settings.model, endpoint_host=settings.endpoint_host,
                            settings=remembered_settings(settings))
    except BaseException:
        session.close()
        raise
    return ctx, session, settings


def _picked(ctx: CliContext, options: RunOptions) -> Path:
    if not options.interactive:
        raise UsageError("no SESSION given: name one (an id, a prefix of 4+ characters, or 'last'); "
                         "agentcli list shows them")
    from agentcli.cli.repl import terminal_io
    from agentcli.cli.terminal.picker import choice_reader, pick_session

    io = terminal_io()
    return pick_session(io.console, ctx.sessions.entries(ctx.workspace_root), choice_reader(io)).path


def _drive(ctx: CliContext, session: Session, settings: Settings, options: RunOptions, *,
           resumed: bool) -> tuple[int, bool]:
    """Drive the session to the end of this run: (exit code, whether the file is worth keeping)."""
    from agentcli.agent.engine.engine import Engine
    from agentcli.cli.scripted import make_sink, run_scripted
    from agentcli.cli.startup import started

    if options.interactive:
        started()
        return run_terminal(ctx, session, settings, options, resumed=resumed), True
    sink = make_sink(options, settings)
    engine = Engine(session, settings, ctx.place, sink=sink, interactive=False)
    started()  # the garbage collector runs again from here
    try:
        code = run_scripted(engine, options, sink, resumed=resumed)
        result = engine.result
        keep = resumed or not engine.facts.never_answered(result.reason if result else None)
    finally:
        engine.close()
    _raise_fatal(engine)
    return code, keep


def _raise_fatal(engine: Engine) -> None:
    """What stopped a run that no model could act on reaches the CLI's one error boundary
    (one line; the traceback with --debug); the turn is saved and resumable."""
    if engine.fatal is not None:
        raise engine.fatal


def run_terminal(ctx: CliContext, session: Session | None, settings: Settings, options: RunOptions, *,
                 resumed: bool, io: Any = None) -> int:
    """A person at a terminal: the prompt-toolkit loop over one engine at a time (the first
    prompt creates the session when ``session`` is None; ``/new`` and ``/fork`` make the
    next); the exit code."""
    import warnings

    # A Ctrl-C that lands while prompt-toolkit is starting its input line leaves its
    # coroutine unstarted; Python would print a RuntimeWarning over the screen for it.
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
    from agentcli.cli.repl import terminal_io

    terminal = TerminalSessions(ctx, settings, io or terminal_io())
    return drive_terminal(terminal, terminal.repl(session, resumed=resumed), options)


def drive_terminal(terminal: TerminalSessions, repl: Any, options: RunOptions) -> int:
    """Run the terminal loop; whatever ends it — /exit, a signal, an error of the terminal
    itself — every engine is closed (its threads joined) before this returns or raises."""
    from agentcli.cli.signals import signals_to

    try:
        with signals_to(repl.stop):
            result = repl.run()
        return terminal.finish(result, options)
    finally:
        terminal.close()


__all__ = ["TerminalSessions", "drive_terminal", "resume_session", "run_terminal", "start_session"]
