"""Tokens into money: a small table of list prices, overridden by ``prices`` in the config.

Prices are US dollars per million tokens: ``input`` (prompt tokens), ``cached_input``
(prompt tokens the endpoint served from its cache, when it reports them) and ``output``
(completion tokens). A model with no known price has no cost: agentcli shows tokens only,
never a guess. The table holds OpenAI's published list prices of 2025; a config file
corrects or extends it::

    [prices."qwen2.5-coder:14b"]
    input = 0
    output = 0

Example:
    >>> Pricing().cost("gpt-4o-mini", prompt_tokens=1_000_000, completion_tokens=0)
    0.15
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agentcli.errors import UsageError


@dataclass(frozen=True)
class Price:
    """Dollars per million tokens."""

    input: float
    output: float
    cached_input: float | None = None  # None: cached prompt tokens cost what others do


BUILTIN: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "o3": Price(2.00, 8.00, 0.50),
    "o3-mini": Price(1.10, 4.40, 0.55),
    "o4-mini": Price(1.10, 4.40, 0.275),
}

_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-4o-2024-08-06 is priced as gpt-4o


class Pricing:
    """Look up a model's price: the config's ``prices`` first, then :data:`BUILTIN`."""

    def __init__(self, overrides: Mapping[str, Any] | None = None):
        self.prices = dict(BUILTIN)
        for model, entry in (overrides or {}).items():
            self.prices[model] = _parse(model, entry)

    def price(self, model: str | None) -> Price | None:
        """The price of ``model`` (``provider/`` prefixes and date suffixes ignored), or None."""
        if not model:
            return None
        for name in (model, model.rsplit("/", 1)[-1]):
            for candidate in (name, _DATED.sub("", name)):
                if candidate in self.prices:
                    return self.prices[candidate]
        return None

    def cost(self, model: str | None, *, prompt_tokens: int | None, completion_tokens: int | None,
             cached_tokens: int | None = None) -> float | None:
        """Dollars for one model's usage; None when its price is unknown."""
        price = self.price(model)
        if price is None:
            return None
        cached = min(cached_tokens or 0, prompt_tokens or 0)
        cached_rate = price.input if price.cached_input is None else price.cached_input
        return ((prompt_tokens or 0) - cached) * price.input / 1e6 + cached * cached_rate / 1e6 \
            + (completion_tokens or 0) * price.output / 1e6

    def total(self, usage: Iterable[Mapping[str, Any]]) -> float | None:
        """Dollars for rows of ``model``, ``prompt_tokens``, ``completion_tokens``,
        ``cached_tokens``; None when some tokens were spent on a model of unknown price."""
        total = 0.0
        for row in usage:
            cost = self.cost(row["model"], prompt_tokens=row["prompt_tokens"],
                             completion_tokens=row["completion_tokens"],
                             cached_tokens=row.get("cached_tokens"))
            if cost is None:
                if row["prompt_tokens"] or row["completion_tokens"]:
                    return None
                continue
            total += cost
        return total


def _parse(model: str, entry: Any) -> Price:
    if not isinstance(entry, Mapping) or not {"input", "output"} <= set(entry):
        raise UsageError(f"prices.{model} must be a table with input and output (dollars per million "
                         f"tokens), e.g. prices.\"{model}\" = {{input = 0.5, output = 1.5}}")
    try:
        cached = entry.get("cached_input")
        return Price(float(entry["input"]), float(entry["output"]), None if cached is None else float(cached))
    except (TypeError, ValueError):
        raise UsageError(f"prices.{model}: input, output and cached_input must be numbers") from None


def dollars(amount: float | None) -> str:
    """``$0.0123`` (4 decimals under a dollar, 2 above); ``""`` when unknown."""
    if amount is None:
        return ""
    return f"${amount:.2f}" if amount >= 1 else f"${amount:.4f}"


def session_cost(session: Any, pricing: Pricing, since: int = 0) -> float | None:
    """What a session's model calls cost (those after row ``since``): the one function the
    interface calls for ``log``, ``show``, the terminal's footer and ``session.finished``."""
    return pricing.total(session.model_calls.usage_by_model(since))
