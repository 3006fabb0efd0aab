"""The sessions a terminal drives, one engine at a time: no file until there is a prompt.

``agentcli`` alone opens the terminal without a session: the file is created with the
first prompt (leaving an empty terminal leaves nothing behind), and ``/new`` likewise
only closes the current engine — the next prompt starts the next session. ``/fork``
makes a fork of the current session (``agent/fork.py``) and goes on in it. Each engine
is closed (its threads joined) before its session file is closed.

Example:
    >>> terminal = TerminalSessions(ctx, settings, terminal_io())
    >>> repl = terminal.repl(None, resumed=False)   # a new session, made by the first prompt
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentcli.agent.config import Settings
    from agentcli.agent.engine.engine import Engine
    from agentcli.agent.engine.operations import SubmitPrompt
    from agentcli.cli.options import CliContext, RunOptions
    from agentcli.cli.repl import Repl
    from agentcli.session.session import Session


class TerminalSessions:
    """The engines a terminal drives: the first session (or none yet), then each ``/new`` or
    ``/fork``. ``settings`` are those of the next session too (``/model`` and ``/approval``
    change them)."""

    def __init__(self, ctx: CliContext, settings: Settings, io: Any):
        from agentcli.cli.repl import TerminalEvents
        from agentcli.cli.terminal.view import TerminalView

        self.ctx = ctx
        self.settings = settings
        self.io = io
        self.events = TerminalEvents(TerminalView(io.console))
        self.opened: list[tuple[Engine, Session, bool]] = []  # (engine, session, this run created it)
        self.driven: Session | None = None  # the session driven last (open or closed since)

    @property
    def session(self) -> Session | None:
        """The session driven now (None before the first prompt, and after ``/new``)."""
        return self.opened[-1][1] if self.opened else None

    def repl(self, session: Session | None, *, resumed: bool) -> Repl:
        """The loop over ``session``'s engine (shown with its recap when resumed), or over
        none yet: the first prompt creates the session."""
        from agentcli.cli.repl import Repl
        from agentcli.cli.terminal.recap import show_recap

        engine = None
        if session is None:
            self._announce()
        else:
            engine = self._engine(session, created=False, resumed=resumed)
            if resumed:
                show_recap(self.io.console, session)
        return Repl(engine, self.events, self.io, root=self.ctx.workspace_root, sessions=self,
                    protected=self.ctx.protected())

    def start(self, op: SubmitPrompt) -> Engine:
        """The first prompt of a new session: the file is created holding it (one atomic
        step), and the engine that runs it is started. A session whose engine cannot be
        built is not kept."""
        from agentcli.agent.engine.launch import create_session

        session = create_session(self.ctx.place, self.settings, op.text, op.source)
        try:
            return self._engine(session, created=True, resumed=False, announce=False)
        except BaseException:
            session.close()
            self.ctx.sessions.remove(session.path)
            raise

    def new(self) -> str | None:
        """``/new``: close the current engine (and the session this run made); the next
        prompt starts a new session. Returns the id of the one closed (None: there was none)."""
        if not self.opened:
            return None
        closed = self.opened[-1][1].id
        self._close_last()
        return closed

    def fork(self, at: int | None) -> Engine:
        """``/fork [N]``: fork the current session at checkpoint ``at`` (whole: None) into a
        new file of the same folder, and drive the fork instead (the parent is only read)."""
        from agentcli.agent.fork import fork_session
        from agentcli.errors import UsageError

        if not self.opened:
            raise UsageError("there is no session to fork yet: it starts with your first prompt")
        parent = self.opened[-1][1]
        fork = fork_session(self.ctx.place, parent.path, at=at)
        try:
            self._close_last()
        except BaseException:
            fork.session.close()
            raise
        return self._engine(fork.session, created=True, resumed=False, announce=False)

    def preset(self, **changes: Any) -> None:
        """Change the settings the next session starts with (``/model``, ``/approval`` before
        the first prompt), checked as a start would check them."""
        from agentcli.agent.engine.launch import check_startable

        changed = replace(self.settings, **changes)
        check_startable(changed)
        for name, value in changes.items():
            setattr(self.settings, name, value)
            self.settings.sources[name] = f"/{name.replace('_', '-')}"

    def redact(self, text: str) -> str:
        """``text`` without the run's secrets (for the input history, before any session)."""
        from agentcli.agent.engine.launch import run_secrets
        from agentcli.session.redaction import Redactor

        redactor = Redactor()
        redactor.set(run_secrets(self.settings))
        return redactor.text(text)

    def finish(self, result: Any, options: RunOptions) -> int:
        """The exit code of the terminal run (0 when the person left, 130 on a signal)."""
        from agentcli.cli.scripted import finish

        if not self.opened:  # no session (none was started, or /new was the last word)
            return 130 if result is not None and result.status == "interrupted" else 0
        return finish(self.opened[-1][0].facts, result, options, self.events)

    def close(self) -> None:
        """Close every engine still open (the caller closes the session it opened)."""
        while self.opened:
            self._close_last()

    # -- internals ----------------------------------------------------------------------
    def _engine(self, session: Session, *, created: bool, resumed: bool, announce: bool = True) -> Engine:
        from agentcli.agent.engine.engine import Engine

        engine = Engine(session, self.settings, self.ctx.place, sink=self.events, interactive=True,
                        live_output=True)
        self.opened.append((engine, session, created))
        self.driven = session
        if announce:
            engine.start(resumed=resumed)
        return engine

    def _announce(self) -> None:
        """The start line of a terminal whose session does not exist yet."""
        from agentcli.agent.sandbox.startup import sandbox_fields, startup_line

        settings = self.settings
        console = self.io.console
        console.print(f"agentcli · new session · {settings.model} · approval {settings.approval}",
                      style="dim", markup=False, highlight=False)
        fields = sandbox_fields(settings)
        sandbox = startup_line(fields)
        if sandbox:
            warn = fields.get("sandbox") == "off" or "sandbox_unavailable" in fields
            console.print(sandbox, style="bold yellow" if warn else "dim", markup=False, highlight=False)

    def _close_last(self) -> None:
        engine, session, created = self.opened.pop()
        try:
            engine.close()
        finally:
            if created:
                session.close()
