"""A spending limit for one run: ``--max-tokens`` and ``--max-cost`` end it cleanly.

:class:`BudgetedModel` stands in front of a model (the :class:`Model` protocol): before
each request it adds up what this run's model calls have used so far — read from the
session's audit log, every agent's calls together — and refuses the request once the
budget is spent. Every model of the run is wrapped (the orchestrator's and the scouts',
by the engine's composition root), all counting from the same first row. The loop ends
the turn as it does for an endpoint that failed: recorded, resumable, exit 1, with
``reason: "budget"`` in ``session.finished``. A scout that meets the spent budget stops
``interrupted`` (and queued ones stop as they start), and the fan-out stops the run, its
call left for resume. The requests in flight when the line is crossed are the last ones
(one per scout running at once), so a run may end a little past its limit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.errors import StopsRun
from agentcli.agent.model.protocol import AttemptLog, Model
from agentcli.agent.model.reply import ModelReply
from agentcli.agent.pricing import Pricing, dollars
from agentcli.errors import ModelEndpointError, UsageError

if TYPE_CHECKING:
    from agentcli.session.session import Session


class BudgetExceededError(ModelEndpointError, StopsRun):
    """The run spent its budget: no more model requests. Handled like an endpoint failure
    (the turn stays resumable) but exits 1: nothing is wrong with the endpoint. It stops
    the run from inside a tool too (a scout's request)."""

    exit_code = 1
    reason = "budget"


@dataclass
class Budget:
    """The limits of one run; None means no limit."""

    max_tokens: int | None = None
    max_cost: float | None = None

    def __bool__(self) -> bool:
        return self.max_tokens is not None or self.max_cost is not None


class BudgetedModel:
    """A :class:`Model` that refuses requests once this run's budget is spent.

    Example:
        >>> model = BudgetedModel(client, session, Budget(max_cost=0.50), Pricing())
    """

    def __init__(self, model: Model, session: Session, budget: Budget, pricing: Pricing,
                 since: int | None = None):
        self.model = model
        self.session = session
        self.budget = budget
        self.pricing = pricing
        # this run's calls come after this row (None: the newest row now)
        self.since = session.model_calls.last_id() if since is None else since
        self.check_priced(model.name)

    @property
    def name(self) -> str:
        """The model's name (it may be switched: see :class:`~.model.slot.ModelSlot`)."""
        return self.model.name

    @property
    def endpoint_host(self) -> str:
        """The model's endpoint host."""
        return self.model.endpoint_host

    def check_priced(self, model: str) -> None:
        """Raise UsageError when ``--max-cost`` is set and ``model``'s price is unknown."""
        if self.budget.max_cost is not None:
            require_price(self.pricing, model)

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
                 log: AttemptLog | None = None, on_text: Callable[[str], None] | None = None,
                 cancel: CancelToken | None = None) -> ModelReply:
        """Check the budget, then ask the model."""
        self.check()
        return self.model.complete(messages, tools, log=log, on_text=on_text, cancel=cancel)

    def check(self) -> None:
        """Raise :class:`BudgetExceededError` when this run has used its budget."""
        usage = self.session.model_calls.usage_by_model(self.since)
        tokens = sum(int(r["prompt_tokens"]) + int(r["completion_tokens"]) for r in usage)
        if self.budget.max_tokens is not None and tokens >= self.budget.max_tokens:
            raise BudgetExceededError(f"token budget spent: this run used {tokens} tokens "
                                      f"(--max-tokens {self.budget.max_tokens})")
        if self.budget.max_cost is not None:
            spent = self.pricing.total(usage)  # None: a model of unknown price (checked at start)
            if spent is not None and spent >= self.budget.max_cost:
                raise BudgetExceededError(f"cost budget spent: this run used {dollars(spent)} "
                                          f"(--max-cost {self.budget.max_cost:g})")

    def close(self) -> None:
        """Release the model's connections."""
        self.model.close()


def require_price(pricing: Pricing, model: str) -> None:
    """Raise UsageError when ``model``'s price is unknown (a ``--max-cost`` cannot be kept)."""
    if pricing.price(model) is None:
        raise UsageError(
            f"--max-cost needs the price of model {model!r}, which agentcli does not know: "
            f'add [prices."{model}"] input = ..., output = ... (dollars per million tokens) '
            "to your config, or use --max-tokens")
