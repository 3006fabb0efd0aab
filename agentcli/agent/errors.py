"""Errors of the agent layer that go back to the model rather than to the user."""

from __future__ import annotations

from agentcli.errors import AgentcliError


class ToolError(AgentcliError):
    """A tool call that cannot be carried out; ``str(err)`` is told to the model.

    The loop turns it into an error tool result (the run goes on). It derives from
    ``AgentcliError`` only so that one leaking to the CLI boundary still prints as one line.
    """
