"""The status footer: model, approval mode, tokens, context left, and cost when priced.

Example:
    >>> status_line(StatusFacts("gpt-4o-mini", "ask", 1234, 9000, 128000))
    'gpt-4o-mini · ask · 1,234 tokens · 93% context left'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class StatusFacts:
    """What the footer says."""

    model: str
    approval: str
    tokens: int  # used by the session so far, every agent
    context_used: int | None  # tokens in the last request and its answer
    context_window: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    queued: int = 0
    cost: float | None = None  # dollars, when a price is known (agent/pricing.py)


def status_line(facts: StatusFacts) -> str:
    """One line, short enough for 80 columns with a usual model name."""
    parts = [facts.model, facts.approval, f"{facts.tokens:,} tokens"]
    if facts.context_used is not None and facts.context_window > 0:
        left = max(0, 100 - round(100 * facts.context_used / facts.context_window))
        parts.append(f"{left}% context left")
    cost = facts.cost
    if cost is not None:
        parts.append(f"${cost:.4f}" if cost < 1 else f"${cost:.2f}")
    if facts.queued:
        parts.append(f"{facts.queued} queued")
    return " · ".join(parts)
