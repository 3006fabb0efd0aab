"""The composition root: one session's agent, built from its settings.

Everything the engine drives is made here and nowhere else — the workspace jail, the
tools, the change tracker, the model client (one connection pool and rate gate for
every agent), the budget, the scout fan-out, the orchestrator — so that a client never
assembles an agent and the engine can switch the model or the approval mode of every
part it built.

Example:
    >>> parts = compose(session, settings, place, emit, asker=None)
    >>> parts.orchestrator.run(CancelToken())
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentcli.agent.approval import Approver, Asker
from agentcli.agent.events import Event, EventSink
from agentcli.agent.model.slot import ModelSlot
from agentcli.errors import UsageError
from agentcli.session.records import ORCHESTRATOR

if TYPE_CHECKING:
    from agentcli.agent.budget import BudgetedModel
    from agentcli.agent.config import Settings
    from agentcli.agent.context import ContextSettings
    from agentcli.agent.engine.launch import Place
    from agentcli.agent.loop import Orchestrator
    from agentcli.agent.mcp.config import ServerConfig
    from agentcli.agent.model.client import ModelClient
    from agentcli.agent.model.protocol import Model
    from agentcli.agent.pricing import Pricing
    from agentcli.agent.scouts import ScoutFanout
    from agentcli.agent.tools.registry import Tool, ToolRegistry
    from agentcli.session.session import Session


@dataclass
class AgentParts:
    """What :func:`compose` built, for the engine to drive and to change."""

    orchestrator: Orchestrator
    client: ModelClient  # the one HTTP client; every model of the session is one of its twins
    model: ModelSlot  # the orchestrator's model (its compactor's too)
    scout_model: ModelSlot | None  # None: no scout tool (--scout-depth 0)
    fanout: ScoutFanout | None
    budgets: list[BudgetedModel]
    pricing: Pricing
    toolbox: ToolRegistry
    closers: list[Callable[[], None]] = field(default_factory=list)  # run in order by close()

    def close(self) -> None:
        """Release what the parts hold (connections, processes), each even if another fails."""
        errors: list[BaseException] = []
        for close in [self.client.close, *self.closers]:
            try:
                close()
            except Exception as err:  # noqa: BLE001 - closing the rest matters more
                errors.append(err)
        if errors:
            raise errors[0]


def compose(session: Session, settings: Settings, place: Place, emit: EventSink, *,
            asker: Asker | None, live_output: bool = False, tools: Iterable[Tool] = (),
            warn: Callable[[str], None] | None = None,
            mcp_servers: Sequence[ServerConfig] = ()) -> AgentParts:
    """Wire the agent's parts for one session; ``asker`` None when nobody can be asked.

    ``live_output``: a running command's output is emitted as it comes (``tool.output``).
    ``tools``: offered after the built-in ones and the MCP servers' (before ``scout``).
    ``warn``: what a person should be told while the parts start (an MCP server that did
    not start...); by default a ``warning`` event. ``mcp_servers``: servers the client
    names, started besides the declared ones (an editor's, over ACP).
    """
    from agentcli.agent.history.tracker import Tracker
    from agentcli.agent.loop import AgentLoop, Orchestrator
    from agentcli.agent.mcp import add_mcp_tools
    from agentcli.agent.model.client import ModelClient, ModelSettings
    from agentcli.agent.model.gate import RateGate
    from agentcli.agent.model.key import key_for
    from agentcli.agent.pricing import Pricing
    from agentcli.agent.runner import ToolRunner

    toolbox, state = _toolbox(session, settings, place, emit, live_output)
    hub = add_mcp_tools(session, toolbox, settings, place.root, place.state_dir,
                        warn=warn or (lambda line: emit(Event("warning", {"message": line}))),
                        extra=mcp_servers)
    for tool in tools:
        toolbox.register(tool)
    tracker = Tracker(session, place.root, exclude=state, max_file_bytes=settings.max_file_bytes)
    client = ModelClient(ModelSettings(
        model=settings.model, base_url=settings.base_url, api_key=key_for(settings),
        stream=settings.stream, max_attempts=settings.max_attempts, retry_max_wait=settings.retry_max_wait,
        idle_timeout=settings.idle_timeout, attempt_deadline=settings.attempt_deadline,
    ), gate=RateGate())
    pricing = Pricing(settings.prices)
    slot = ModelSlot(client)
    budgets: list[BudgetedModel] = []
    model = _budgeted(slot, session, settings, pricing, budgets)
    scout_slot = fanout = None
    if settings.scout_depth >= 1:
        scout_slot = ModelSlot(client.for_model(settings.scout_model or settings.model))
        fanout = _scouts(session, toolbox, _budgeted(scout_slot, session, settings, pricing, budgets),
                         emit, settings)
    runner = ToolRunner(session, ORCHESTRATOR, toolbox, Approver(settings.approval or "ask", asker),
                        tracker, emit)
    loop = AgentLoop(session, ORCHESTRATOR, model, runner, emit, context_window=settings.context_window or 0,
                     context=context_settings(settings))
    orchestrator = Orchestrator(session, loop, tracker, emit, max_turns=settings.max_turns)
    parts = AgentParts(orchestrator, client, slot, scout_slot, fanout, budgets, pricing, toolbox)
    if toolbox.ctx.sandbox is not None:  # its private /tmp and whatever still runs in it end here
        parts.closers.append(toolbox.ctx.sandbox.close)
    if hub is not None:  # the MCP servers stop with the engine (the session's close stops them too)
        parts.closers.append(hub.close)
    return parts


def _toolbox(session: Session, settings: Settings, place: Place, emit: EventSink,
             live_output: bool) -> tuple[ToolRegistry, list]:
    """The built-in tools in a workspace jail that keeps agentcli's own files out of reach."""
    from dataclasses import replace

    from agentcli.agent.sandbox.handle import shell_sandbox
    from agentcli.agent.secrets import ShellEnvPolicy, shell_environment
    from agentcli.agent.tools.registry import ToolLimits, default_registry
    from agentcli.agent.workspace.jail import Workspace

    try:
        policy = ShellEnvPolicy.from_setting(settings.shell_env)
    except ValueError as err:
        raise UsageError(str(err)) from None
    # agentcli's own state and configuration, and nothing else: its .agentcli folder, the
    # sessions folder, the open session's files (wherever they live: a session still in an
    # old ./sessions folder must not hide a project's own sessions/ package) and agentcli.toml
    files = [session.path.with_name(session.path.name + extra) for extra in ("", "-wal", "-shm", ".lock")]
    state = [place.state_dir, place.sessions.path, *files]
    workspace = Workspace(place.root, protected=[*state, place.root / "agentcli.toml"])
    toolbox = default_registry(workspace, ToolLimits(shell_timeout=settings.shell_timeout),
                               shell_env=shell_environment(os.environ, policy),
                               sandbox=shell_sandbox(settings.sandbox, settings.network, place.root, state))
    if live_output:
        toolbox.ctx = replace(toolbox.ctx, on_output=lambda text: emit(
            Event("tool.output", {"agent": ORCHESTRATOR, "text": text})))
    return toolbox, state


def _budgeted(slot: ModelSlot, session: Session, settings: Settings, pricing: Pricing,
              budgets: list[BudgetedModel]) -> Model:
    """``slot`` behind the run's budget (``--max-tokens``, ``--max-cost``), when there is one.

    Every budgeted model of a run counts the same audit rows (all agents' calls since the
    run began), so the orchestrator and its scouts spend one budget."""
    from agentcli.agent.budget import Budget, BudgetedModel

    budget = Budget(max_tokens=settings.max_tokens, max_cost=settings.max_cost)
    if not budget:
        return slot
    budgeted = BudgetedModel(slot, session, budget, pricing, budgets[0].since if budgets else None)
    budgets.append(budgeted)
    return budgeted


def _scouts(session: Session, toolbox: ToolRegistry, model: Model, emit: EventSink,
            settings: Settings) -> ScoutFanout:
    """Offer the orchestrator ``scout``, its scouts on ``model``."""
    from agentcli.agent.scouts import ScoutFanout, ScoutSettings
    from agentcli.agent.tools.scout import ScoutTool

    fanout = ScoutFanout(session, model, toolbox, emit, ScoutSettings(
        parallel=settings.scouts, depth=settings.scout_depth, max_steps=settings.scout_steps,
        context_window=settings.context_window,
    ))
    toolbox.register(ScoutTool(fanout, depth=0))
    return fanout


def context_settings(settings: Settings) -> ContextSettings:
    """The compaction settings of a run."""
    from agentcli.agent.context import ContextSettings

    return ContextSettings(window=settings.context_window or 0, compact_at=settings.compact_at,
                           compact=not settings.no_compact)
