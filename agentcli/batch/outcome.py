"""What an attempt ended with: its exit code and events, and what its session file says.

The exit code decides the task's status (SPEC §6: 0 done, 6 denied, 130 or a death by
signal interrupted, anything else failed); the session file — opened as a reader, so it
works on a file that came back from a Ray worker too — gives the rest: tokens, cost (the
audit log priced as ``agentcli log`` prices it), turns, the diff of everything the agent
changed since its first checkpoint (as ``agentcli diff --to 1`` prints it) and the answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentcli.batch.batchfile import Outcome
from agentcli.errors import AgentcliError

INTERRUPTED_CODES = (130, 128 + 15, 128 + 9, 128 + 1)  # SIGTERM, SIGKILL, SIGHUP: resumable
BUSY = 4


def status_of(code: int | None) -> str:
    """A task status from its process's exit code."""
    if code == 0:
        return "done"
    if code == 6:
        return "denied"
    if code is None or code in INTERRUPTED_CODES:
        return "interrupted"
    return "failed"


def read_events(path: Path) -> list[dict[str, Any]]:
    """The ``--json`` events an attempt wrote (a line cut short by a kill is skipped)."""
    try:
        return read_events_text(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


def read_events_text(text: str) -> list[dict[str, Any]]:
    """The events in ``--json`` output (a line cut short by a kill is skipped)."""
    events = []
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return events


def last_error_line(stderr: str) -> str | None:
    """The last ``agentcli: ...`` line an attempt wrote on stderr (its one-line error)."""
    for line in reversed(stderr.splitlines()):
        if line.startswith("agentcli: ") and not line.startswith("agentcli: session "):
            return line[len("agentcli: "):]
    return None


def outcome_of(code: int | None, events: list[dict[str, Any]], session_path: Path | None,
               stderr: str = "") -> Outcome:
    """The outcome of one attempt from its exit code, its events and its session file."""
    status = status_of(code)
    finished = next((e for e in reversed(events) if e.get("type") == "session.finished"), {})
    error = finished.get("error") or (last_error_line(stderr) if status != "done" else None)
    if status == "interrupted" and not error:
        error = "interrupted: the session is saved and is resumed next"
    facts = _session_facts(session_path) if session_path is not None and session_path.is_file() else {}
    answer = finished.get("answer") or facts.pop("answer", None)
    facts.pop("answer", None)
    return Outcome(status=status, exit_code=code, reason=finished.get("reason"), error=error,
                   answer=answer or None, **facts)


def _session_facts(path: Path) -> dict[str, Any]:
    """Tokens, cost, turns, answer and diff from a session file ({} when it cannot be read)."""
    from agentcli.agent.config import configured_pricing
    from agentcli.agent.history.diff import diff_since
    from agentcli.agent.pricing import session_cost
    from agentcli.session.records import ORCHESTRATOR
    from agentcli.session.session import Session

    try:
        with Session.open(path, writer=False) as session:
            totals = session.model_calls.totals()
            messages = [m for m in session.transcript.all(ORCHESTRATOR) if m.role == "assistant"]
            try:
                cost = session_cost(session, configured_pricing(session.meta().workspace_root))
            except (AgentcliError, OSError):
                cost = None
            try:
                diff: str | None = diff_since(session, 1)
            except AgentcliError:  # no prompt ever started: nothing changed
                diff = None
    except (AgentcliError, OSError):
        return {}
    return {
        "cost_usd": cost, "prompt_tokens": totals["prompt_tokens"],
        "completion_tokens": totals["completion_tokens"], "total_tokens": totals["total_tokens"],
        "turns": len(messages), "answer": messages[-1].content if messages else None,
        "diff": diff, "files_changed": _files_in(diff),
    }


def _files_in(diff: str | None) -> int:
    """How many files a diff changes (its ``diff --git`` headers: content lines start with
    ``+``, ``-`` or a space, so none is miscounted)."""
    return sum(1 for line in (diff or "").splitlines() if line.startswith("diff --git "))
