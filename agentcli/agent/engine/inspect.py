"""What a client may read of a running session: plain records, never the agent's objects.

The terminal's ``/plan``, ``/diff``, ``/checkpoints``, ``/log`` and ``/status`` (and the
editor protocol's equivalents) read the durable object through these, as ``agentcli show``
reads a file: queries only, safe while a turn runs (the session serialises them with the
agent's writes).

Example:
    >>> facts = engine.facts
    >>> facts.status().tokens, facts.plan()
    (1234, [PlanItem(title='fix the test', status='done')])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentcli.agent.config import Settings
    from agentcli.agent.engine.conversation import PastMessage
    from agentcli.agent.mcp.config import ServerConfig
    from agentcli.agent.mcp.hub import ServerState
    from agentcli.agent.pricing import Pricing
    from agentcli.session.directory import SessionDirectory
    from agentcli.session.records import (
        CheckpointInfo,
        ModelCallRecord,
        PlanItem,
        Prompt,
        SessionMeta,
        ToolCallRecord,
    )
    from agentcli.session.session import Session


# The tools whose output a client previews and can show whole again (``/output N``).
OUTPUT_TOOLS = ("run_shell", "read_file", "search", "list_files")


@dataclass(frozen=True)
class Status:
    """The session's standing, for a footer or ``/status``."""

    session: str
    path: Path
    title: str
    model: str
    approval: str
    context_window: int
    tokens: int  # every agent's, so far
    prompt_tokens: int
    completion_tokens: int
    attempts: int
    queued: int  # prompts waiting for a turn
    cost: float | None  # dollars; None when a model's price is unknown


class SessionFacts:
    """Read-only queries of one session (see the module docstring)."""

    def __init__(self, session: Session, settings: Settings, pricing: Pricing,
                 mcp_servers: Sequence[ServerConfig] = (), *, sessions: SessionDirectory | None = None):
        self._session = session
        self._settings = settings
        self._pricing = pricing
        self._mcp_servers = mcp_servers  # the client's own (an editor's), besides the declared ones
        self._sessions = sessions  # the folder a SESSION argument is looked up in

    def resume_ref(self) -> str:
        """What ``agentcli resume`` needs to find this very file again: the session's id when
        the sessions folder finds it by that name, else the file's path (a copied or renamed
        file, one given by path)."""
        meta_id = self._session.meta().id
        if self._sessions is not None:
            return self._sessions.ref(self._session.path, meta_id)
        import shlex

        return shlex.quote(str(self._session.path))

    def status(self) -> Status:
        """Model, approval mode, tokens, queued prompts and cost, now."""
        from agentcli.agent.pricing import session_cost

        session = self._session
        totals = session.model_calls.totals()
        meta = session.meta()
        return Status(session.id, session.path, meta.title or "", self._settings.model,
                      self._settings.approval or "ask", self._settings.context_window or 0,
                      int(totals["total_tokens"]), int(totals["prompt_tokens"]),
                      int(totals["completion_tokens"]), int(totals["attempts"]),
                      session.prompts.count_queued(), session_cost(session, self._pricing))

    def meta(self) -> SessionMeta:
        """The session's ``meta`` row."""
        return self._session.meta()

    def conversation(self) -> list[PastMessage]:
        """The conversation as a client redraws it: prompts, answers, tool calls with their
        final status and an edit's text before and after (``conversation.py``)."""
        from agentcli.agent.engine.conversation import conversation

        return conversation(self._session)

    def plan(self) -> list[PlanItem]:
        """The plan as it stands."""
        return self._session.plan.current()

    def diff(self, checkpoint: int | None = None) -> tuple[int, str]:
        """The checkpoint compared against (default: the last prompt's) and the unified diff
        of the agent's changes since it. Raises UsageError for no such checkpoint."""
        from agentcli.agent.history.diff import diff_since
        from agentcli.agent.history.rollback import find_checkpoint

        number = find_checkpoint(self._session, checkpoint).id
        return number, diff_since(self._session, number)

    def checkpoint(self, number: int | None) -> int:
        """The number of checkpoint ``number`` (None: the last prompt's). Raises UsageError
        when there is no such checkpoint."""
        from agentcli.agent.history.rollback import find_checkpoint

        return find_checkpoint(self._session, number).id

    def checkpoints(self) -> list[CheckpointInfo]:
        """The rollback points, oldest first."""
        return self._session.rollbacks.overview()

    def model_calls(self, last: int = 50) -> list[ModelCallRecord]:
        """The newest ``last`` rows of the audit log, oldest first."""
        return self._session.model_calls.all()[-last:]

    def output_count(self) -> int:
        """How many of the orchestrator's calls of :data:`OUTPUT_TOOLS` have finished: the
        outputs numbered 1, 2... in the order they came."""
        from agentcli.session.records import ORCHESTRATOR

        return len(self._session.tool_calls.finished_ids(ORCHESTRATOR, OUTPUT_TOOLS))

    def output(self, number: int | None = None) -> tuple[int, ToolCallRecord] | None:
        """Output ``number`` (1 is the session's first; None: the last) and its call, whose
        ``result`` is the whole output the model got; None when there is no such output."""
        from agentcli.session.records import ORCHESTRATOR

        ids = self._session.tool_calls.finished_ids(ORCHESTRATOR, OUTPUT_TOOLS)
        number = len(ids) if number is None else number
        if not 1 <= number <= len(ids):
            return None
        return number, self._session.tool_calls.get(ids[number - 1])

    def totals(self) -> dict[str, int]:
        """The audit log's totals (attempts, tokens, latency)."""
        return self._session.model_calls.totals()

    def pending(self) -> bool:
        """Whether a prompt waits to be run (an interrupted turn, or a queued prompt)."""
        return self._session.prompts.next_pending() is not None

    def mcp_servers(self) -> list[ServerState]:
        """Every MCP server the session declares, as its hub sees it now (``blocked``: why not)."""
        from agentcli.agent.mcp import hub_for, merged, server_states
        from agentcli.agent.mcp.config import load_servers

        meta = self._session.meta()
        servers = load_servers(Path(meta.workspace_root), self._settings.mcp_config,
                               trusted=self._settings.trusted)
        return server_states(merged(servers, self._mcp_servers), hub_for(self._session))

    def queued_from(self, source: str) -> list[Prompt]:
        """The prompts from ``source`` (``terminal``...) still waiting for a turn, oldest first."""
        return self._session.prompts.queued(source)

    def queued(self) -> int:
        """How many prompts wait for a turn."""
        return self._session.prompts.count_queued()

    def denied(self, prompt_ids: list[int]) -> list[ToolCallRecord]:
        """The calls the approval policy denied during these prompts."""
        return self._session.tool_calls.denied(prompt_ids)

    def run_totals(self) -> dict[str, object]:
        """The audit totals with their cost in dollars (``cost_usd``, None when unknown)."""
        from agentcli.agent.pricing import session_cost

        totals: dict[str, object] = dict(self._session.model_calls.totals())
        totals["cost_usd"] = session_cost(self._session, self._pricing)
        return totals

    def never_answered(self, reason: str | None) -> bool:
        """Whether a session this run created is not worth keeping: nobody sent it a prompt
        (opened and quit), or the endpoint refused it before answering anything for a reason
        of configuration (a bad key, model or URL: 401, 403, 404) — ``reason`` being why the
        run stopped. A session whose endpoint was down or answered badly is kept: its turn is
        resumable, its audit rows say why."""
        session = self._session
        if not session.prompts.all():
            return True
        calls = session.model_calls.all()
        if any(call.status == "ok" for call in calls) or reason != "endpoint":
            return False
        return bool(calls) and all(call.http_status in (401, 403, 404) for call in calls)
