"""The seams between the loop and a model: what a model is, and who records its attempts.

The loop talks to a :class:`Model`; :class:`~agentcli.agent.model.client.ModelClient` is
the one that speaks HTTP. A model makes one request with its own retries and tells an
:class:`AttemptLog` about every attempt, so exactly one place (the log) records each
attempt, and it gets the reply already parsed. Tests can implement :class:`Model`
in-process; a replay can serve answers from a session's audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agentcli.agent.cancel import CancelToken
from agentcli.agent.model.reply import ModelReply, Usage


@dataclass
class Attempt:
    """One HTTP attempt, for the audit log; ``request`` is the JSON body, never a key."""

    number: int  # 0 for the first try, then 1, 2, ... for retries
    request: dict[str, Any]
    model: str
    endpoint_host: str
    started_at: float
    latency_ms: int | None = None
    response: dict[str, Any] | None = None
    usage: Usage | None = None
    error: str | None = None
    http_status: int | None = None
    interrupted: bool = False  # stopped by a cancel, not a failure of the endpoint
    allowed: int | None = None  # attempts a failure like this one gets in all (a retry notice says it)


class AttemptLog(Protocol):
    """Told about each attempt: right before it is sent, and when it has ended."""

    def started(self, attempt: Attempt) -> None:
        """The attempt is about to be sent (record it before it goes out)."""

    def ended(self, attempt: Attempt, reply: ModelReply | None) -> None:
        """The attempt ended: ``reply`` on success, else ``attempt.error`` says why."""

    def retrying(self, attempt: Attempt, seconds: float) -> None:
        """The failed ``attempt`` will be tried again after ``seconds``."""


class Model(Protocol):
    """Answers a list of Chat Completions messages, retrying as it sees fit."""

    name: str
    endpoint_host: str

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        log: AttemptLog | None = None,
        on_text: Callable[[str], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> ModelReply:
        """One answer; raises ``ModelEndpointError`` when it cannot get one, ``Cancelled``."""

    def close(self) -> None:
        """Release connections."""
