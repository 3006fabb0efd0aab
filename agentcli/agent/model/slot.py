"""A model that can be swapped between requests: ``/model NAME`` changes every agent at once.

The orchestrator's loop, its compactor, the scout fan-out and the budget all hold the
one :class:`ModelSlot` of their role, so switching the model is one assignment, taken
from the next request on, whatever wraps the slot.

Example:
    >>> slot = ModelSlot(client)
    >>> slot.use(client.for_model("gpt-4.1"))
    >>> slot.name
    'gpt-4.1'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agentcli.agent.cancel import CancelToken
from agentcli.agent.model.protocol import AttemptLog, Model
from agentcli.agent.model.reply import ModelReply


class ModelSlot:
    """A :class:`Model` that forwards to the model it holds now."""

    def __init__(self, model: Model):
        self._model = model

    @property
    def name(self) -> str:
        """The name of the model held now."""
        return self._model.name

    @property
    def endpoint_host(self) -> str:
        """The host of the model held now."""
        return self._model.endpoint_host

    @property
    def current(self) -> Model:
        """The model held now."""
        return self._model

    def use(self, model: Model) -> None:
        """Hold ``model`` from the next request on (a request in flight keeps its own)."""
        self._model = model

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
                 log: AttemptLog | None = None, on_text: Callable[[str], None] | None = None,
                 cancel: CancelToken | None = None) -> ModelReply:
        """Ask the model held now."""
        return self._model.complete(messages, tools, log=log, on_text=on_text, cancel=cancel)

    def close(self) -> None:
        """Release the held model's connections."""
        self._model.close()
