"""Errors of the agent layer that go back to the model rather than to the user."""

from __future__ import annotations

from agentcli.errors import AgentcliError


class ToolError(AgentcliError):
    """A tool call that cannot be carried out; ``str(err)`` is told to the model.

    The loop turns it into an error tool result (the run goes on). It derives from
    ``AgentcliError`` only so that one leaking to the CLI boundary still prints as one line.
    """


class FatalError(Exception):
    """Stops the run instead of going back to the model: nothing a model could do about it
    (the interface went away, agentcli's own bookkeeping failed). The turn stays resumable;
    the CLI's boundary prints it as one line."""


def is_fatal(err: BaseException) -> bool:
    """Whether ``err``, met inside a tool, must stop the run rather than become its result:
    a :class:`FatalError`, or the session file itself failing (SQLite, a damaged file) —
    the model can act on a tool's failure, never on the store's."""
    import sqlite3

    from agentcli.errors import SessionFileError

    return isinstance(err, (FatalError, sqlite3.Error, SessionFileError, MemoryError))
