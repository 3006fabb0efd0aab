"""Assemble and drive a session for ``new`` and ``resume``: settings, parts, signals, exit codes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcli.agent.approval import Asker, mode_that_allows
from agentcli.agent.config import Settings, resolve_settings
from agentcli.agent.events import Event, EventSink, serialized
from agentcli.agent.loop import Orchestrator, TurnResult
from agentcli.agent.model.protocol import Model
from agentcli.cli.options import STATE_DIR, CliContext
from agentcli.cli.render.events import EventPrinter, JsonLines
from agentcli.errors import UsageError
from agentcli.session.session import Session

if TYPE_CHECKING:
    from agentcli.agent.context import ContextSettings
    from agentcli.agent.model.protocol import Model
    from agentcli.agent.tools.registry import ToolRegistry

# What a session remembers of how it was started (never a key): resume uses it.
REMEMBERED = ("model", "base_url", "approval", "max_turns", "context_window", "shell_timeout",
              "scouts", "scout_depth", "scout_model", "scout_steps", "no_compact")


@dataclass
class RunOptions:
    """What the user asked for on the command line."""

    prompt: str | None
    print_mode: bool
    json: bool
    flags: dict[str, Any] = field(default_factory=dict)

    @property
    def interactive(self) -> bool:
        """A person at a terminal, who can be asked and can type more prompts."""
        return not (self.print_mode or self.json) and sys.stdin.isatty()


def read_prompt(options: RunOptions, *, required: bool) -> str | None:
    """The prompt text: the argument, stdin for ``-`` (or when stdin is not a terminal), or
    both: piped input is appended to a prompt argument (``git diff | agentcli new -p "review"``)."""
    text = options.prompt
    if text == "-":
        text = _stdin_text()
        if not text.strip():
            raise UsageError("the prompt read from stdin is empty")
    elif not options.interactive and not sys.stdin.isatty():
        if text is None:
            text = _stdin_text() or None  # piped input is the prompt; nothing piped is no prompt
        elif (piped := _piped_input()).strip():
            text = f"{text.rstrip()}\n\n{piped}"
    if text is not None and not text.strip():
        raise UsageError("the prompt is empty")
    if text is None and required and not options.interactive:
        raise UsageError("no prompt given: pass one as an argument, or '-' to read it from stdin")
    return text


def _stdin_text() -> str:
    try:
        text = sys.stdin.read()
        text.encode("utf-8")  # a C locale reads undecodable bytes as surrogates instead
        return text
    except UnicodeError as exc:
        data = exc.object if isinstance(exc.object, bytes) else exc.object.encode("utf-8", "surrogateescape")
        offset = exc.start if isinstance(exc.object, bytes) else len(exc.object[:exc.start].encode(
            "utf-8", "surrogateescape"))
        raise UsageError(f"the prompt on stdin is not UTF-8 text (byte {data[offset]:#04x} at offset "
                         f"{offset}); convert it first, e.g. with iconv -t UTF-8") from None


STDIN_WAIT_SECONDS = 2.0
"""How long a prompt argument waits for piped input to start: a CI step whose stdin is an
open pipe nobody writes to must not hang (input that has started is read to its end)."""


def _piped_input() -> str:
    """What is piped on stdin: everything, once it starts within ``STDIN_WAIT_SECONDS``."""
    import select

    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (tests, embedding): just read
        return _stdin_text()
    try:
        ready, _, _ = select.select([fd], [], [], STDIN_WAIT_SECONDS)
    except (OSError, ValueError):
        ready = [fd]
    return _stdin_text() if ready else ""


def settings_for(ctx: CliContext, options: RunOptions, remembered: dict[str, Any] | None = None) -> Settings:
    """Flags > what the session remembers > environment > config files > defaults.

    A resumed session talks to the endpoint it recorded (the default one included)
    unless ``--base-url`` says otherwise: an endpoint added later to the environment or
    a config file is not where its key and transcript go.
    """
    given = {k: v for k, v in options.flags.items() if v is not None and k != "local"}
    settings = resolve_settings(ctx.workspace_root, {**(remembered or {}), **given})
    if remembered is not None and "base_url" not in given:
        settings.base_url = recorded_endpoint(remembered.get("base_url"))
    for warning in settings.warnings:
        sys.stderr.write(f"agentcli: warning: {warning}\n")
    if not settings.approval:
        settings.approval = "ask"
    if options.flags.get("local"):
        use_local_server(settings, model_given="model" in given)
    if not settings.base_url and not os.environ.get("OPENAI_API_KEY"):
        raise UsageError(no_endpoint_message())
    return settings


def use_local_server(settings: Settings, *, model_given: bool) -> None:
    """``--local``: point ``settings`` at the first local server found (and, unless a model
    was given on the command line, at the first model it lists)."""
    from agentcli.agent.model.local import candidates, find_local_servers

    if settings.sources.get("base_url") == "flag":
        raise UsageError("--local and --base-url both name the endpoint: give one of them")
    servers = find_local_servers()
    if not servers:
        where = ", ".join(f"{port} ({name})" for name, port in candidates())
        raise UsageError(f"--local found no OpenAI-compatible server on 127.0.0.1 ports {where}: start "
                         "one, or pass --base-url")
    server = servers[0]
    settings.base_url = server.base_url
    settings.sources["base_url"] = "--local"
    if not model_given and server.models:
        settings.model = server.models[0]
        settings.sources["model"] = "--local"
    sys.stderr.write(f"agentcli: using {server.name} at {server.base_url}, model {settings.model}\n")


def no_endpoint_message() -> str:
    """Why a run without a key and an endpoint cannot start, and the local server to use if
    one is running (as ``--local`` would)."""
    from agentcli.agent.model.local import find_local_servers

    servers = find_local_servers()
    if servers:
        first = servers[0]
        model = f" --model {first.models[0]}" if first.models else ""
        return (f"no API key (OPENAI_API_KEY), but {first.name} is running at {first.base_url}: "
                f"use it with --local, or --base-url {first.base_url}{model}")
    return ("no API key: set OPENAI_API_KEY, or point --base-url (or OPENAI_BASE_URL) at a local "
            "OpenAI-compatible server that needs none (agentcli looked on ports 11434, 1234, 8080)")


def remembered_settings(settings: Settings) -> dict[str, Any]:
    """The settings a session stores in ``meta.settings`` (the endpoint without credentials)."""
    remembered = {name: getattr(settings, name) for name in REMEMBERED}
    remembered["base_url"] = settings.public_base_url
    return remembered


def recorded_endpoint(public: str | None) -> str | None:
    """The URL to use for an endpoint a session recorded without its credentials: the
    environment's ``OPENAI_BASE_URL`` when it is that endpoint (it may carry them)."""
    from agentcli.agent.model.endpoint import public_url

    full = os.environ.get("OPENAI_BASE_URL")
    return full if public and full and public_url(full) == public else public


def run_secrets(settings: Settings) -> list[str]:
    """Values never to store or print: the API key, and credentials inside the endpoint URL."""
    from urllib.parse import parse_qsl, urlparse

    secrets = [os.environ.get("OPENAI_API_KEY") or ""]
    if settings.base_url:
        parts = urlparse(settings.base_url)
        secrets += [parts.username or "", parts.password or ""]
        secrets += [value for _, value in parse_qsl(parts.query)]
    return [s for s in secrets if s]


def make_sink(options: RunOptions, settings: Settings | None = None) -> EventSink:
    """JSON lines on stdout for ``--json``; else progress for people (stderr when scripted).

    For people, retries of one request are told once, with the schedule (not a line per
    attempt); a scripted run's own error is left to :func:`finish`, which prints it once.
    """
    from agentcli.cli.render.progress import Progress

    if options.json:
        return serialized(JsonLines(sys.stdout))
    attempts = settings.max_attempts if settings else 6
    cap = settings.retry_max_wait if settings else 60.0
    if options.interactive:
        printer = EventPrinter(sys.stdout, stream_text=True)
        return serialized(Progress(printer, sys.stdout, attempts=attempts, cap=cap))
    printer = EventPrinter(sys.stderr, stream_text=False)
    return serialized(Progress(printer, sys.stderr, attempts=attempts, cap=cap, own_errors=False))


def build_orchestrator(session: Session, root: Path, sessions_dir: Path, settings: Settings,
                       emit: EventSink, asker: Asker | None) -> Orchestrator:
    """Wire the agent's parts for one session; ``asker`` None when nobody can be asked."""
    from agentcli.agent.approval import Approver
    from agentcli.agent.budget import Budget, BudgetedModel
    from agentcli.agent.history.tracker import Tracker
    from agentcli.agent.loop import AgentLoop
    from agentcli.agent.mcp import add_mcp_tools
    from agentcli.agent.model.client import ModelClient, ModelSettings
    from agentcli.agent.model.gate import RateGate
    from agentcli.agent.pricing import Pricing
    from agentcli.agent.runner import ToolRunner
    from agentcli.agent.secrets import ShellEnvPolicy, shell_environment
    from agentcli.agent.tools.registry import ToolLimits, default_registry
    from agentcli.agent.workspace.jail import Workspace
    from agentcli.session.records import ORCHESTRATOR

    try:
        policy = ShellEnvPolicy.from_setting(settings.shell_env)
    except ValueError as err:
        raise UsageError(str(err)) from None
    # agentcli's own state and configuration, and nothing else: its .agentcli folder, the
    # sessions folder, the open session's files (wherever they live: a session still in an
    # old ./sessions folder must not hide a project's own sessions/ package) and agentcli.toml
    files = [session.path.with_name(session.path.name + extra) for extra in ("", "-wal", "-shm", ".lock")]
    state = [root / STATE_DIR, sessions_dir, *files]
    workspace = Workspace(root, protected=[*state, root / "agentcli.toml"])
    toolbox = default_registry(workspace, ToolLimits(shell_timeout=settings.shell_timeout),
                               shell_env=shell_environment(os.environ, policy))
    tracker = Tracker(session, root, exclude=state, max_file_bytes=settings.max_file_bytes)
    model: Model = ModelClient(ModelSettings(
        model=settings.model, base_url=settings.base_url, api_key=os.environ.get("OPENAI_API_KEY"),
        stream=settings.stream, max_attempts=settings.max_attempts, retry_max_wait=settings.retry_max_wait,
        idle_timeout=settings.idle_timeout, attempt_deadline=settings.attempt_deadline,
    ), gate=RateGate())
    add_mcp_tools(session, toolbox, settings, root, root / STATE_DIR,
                  warn=lambda line: sys.stderr.write(f"agentcli: warning: {line}\n"))
    add_scout_tool(session, toolbox, model.for_model(settings.scout_model or settings.model), emit, settings)
    runner = ToolRunner(session, ORCHESTRATOR, toolbox, Approver(settings.approval or "ask", asker),
                        tracker, emit)
    budget = Budget(max_tokens=settings.max_tokens, max_cost=settings.max_cost)
    if budget:
        model = BudgetedModel(model, session, budget, Pricing(settings.prices))
    loop = AgentLoop(session, ORCHESTRATOR, model, runner, emit, context_window=settings.context_window or 0,
                     context=context_settings(settings))
    return Orchestrator(session, loop, tracker, emit, max_turns=settings.max_turns)


def add_scout_tool(session: Session, toolbox: ToolRegistry, model: Model, emit: EventSink,
                   settings: Settings) -> None:
    """Offer the orchestrator ``scout`` (unless ``--scout-depth 0``), its scouts on ``model``."""
    from agentcli.agent.scouts import ScoutFanout, ScoutSettings
    from agentcli.agent.tools.scout import ScoutTool

    if settings.scout_depth < 1:
        return
    fanout = ScoutFanout(session, model, toolbox, emit, ScoutSettings(
        parallel=settings.scouts, depth=settings.scout_depth, max_steps=settings.scout_steps,
        context_window=settings.context_window,
    ))
    toolbox.register(ScoutTool(fanout, depth=0))


def context_settings(settings: Settings) -> ContextSettings:
    """The compaction settings of a run."""
    from agentcli.agent.context import ContextSettings

    return ContextSettings(window=settings.context_window or 0, compact_at=settings.compact_at,
                           compact=not settings.no_compact)


def finish(session: Session, result: TurnResult, options: RunOptions, emit: EventSink, *,
           fresh: bool = False) -> int:
    """Report the end of a run (event, stdout answer, stderr notes) and return the exit code.

    ``fresh``: the session was created by this run; when it never got an answer it is not
    kept (:func:`unkept`), and the advice says so instead of offering to resume it.
    """
    approval = (session.meta().settings or {}).get("approval") or "ask"
    denied = [
        {"tool": c.name, "summary": c.summary, "reason": c.result, "allowed_by": mode_that_allows(c.kind)}
        for c in session.tool_calls.denied(result.prompt_ids)
    ]
    code = result.exit_code if result.status != "done" else 0
    if result.status == "interrupted":
        code = 130
    if code == 0 and denied and not options.interactive:
        code = 6
    error = result.error
    if error and not options.interactive:  # in a terminal the person is already in the session
        error += _advice(session, result, discarded=fresh and unkept(session, result))
    emit(Event("session.finished", {
        "session": session.id, "status": result.status, "exit_code": code, "reason": result.reason,
        "answer": result.answer, "error": error, "denied": denied, "totals": run_totals(session),
    }))
    if not options.json and not options.interactive and result.answer:
        sys.stdout.write(result.answer.rstrip("\n") + "\n")
        sys.stdout.flush()
    if not options.interactive:
        for item in denied:
            sys.stderr.write(f"agentcli: denied by the approval policy (--approval {approval}): "
                             f"{item['summary'] or item['tool']} — {item['allowed_by']} allows it\n")
        if error:
            sys.stderr.write(f"agentcli: {error}\n")
        if not result.prompt_ids and result.status == "done":
            sys.stderr.write("agentcli: nothing to do: the session has no unfinished turn "
                             "(give a PROMPT to go on)\n")
    return code


def run_totals(session: Session) -> dict[str, Any]:
    """The session's audit totals with their cost in dollars (``cost_usd``, None when a
    model's price is unknown)."""
    from agentcli.agent.pricing import configured_pricing, session_cost

    totals = session.model_calls.totals()
    totals["cost_usd"] = session_cost(session, configured_pricing(session.meta().workspace_root))
    return totals


def unkept(session: Session, result: TurnResult) -> bool:
    """Whether a session this run created is not worth keeping: nobody sent it a prompt
    (opened and quit), or the endpoint refused it before answering anything for a reason
    of configuration (a bad key, model or URL: 401, 403, 404). A session whose endpoint
    was down or answered badly is kept: its turn is resumable, its audit rows say why."""
    if not session.prompts.all():
        return True
    calls = session.model_calls.all()
    if any(call.status == "ok" for call in calls) or result.reason != "endpoint":
        return False
    return bool(calls) and all(call.http_status in (401, 403, 404) for call in calls)


def _advice(session: Session, result: TurnResult, *, discarded: bool) -> str:
    """How to go on after a run that stopped early, for a scripted run's last line."""
    if discarded:
        return " (no session was kept: run the command again once this is fixed)"
    if not result.resumable:
        return ""
    extra = {"max_turns": " --max-turns N", "budget": " --max-cost DOLLARS (or --max-tokens N)"}
    return (f" — the session is saved: agentcli resume {session.id}"
            f"{extra.get(result.reason or '', '')} goes on")


def announce(session: Session, settings: Settings, options: RunOptions, emit: EventSink,
             resumed: bool) -> None:
    """Say which session this is: its id on stderr first, then the ``session.started`` event."""
    if not options.interactive:
        sys.stderr.write(f"agentcli: session {session.id}\n")
        sys.stderr.flush()
    emit(Event("session.started", {
        "session": session.id, "path": str(session.path), "model": settings.model,
        "endpoint": settings.endpoint_host, "workspace": session.meta().workspace_root,
        "approval": settings.approval, "resumed": resumed,
    }))
