"""Errors of the agent layer that go back to the model rather than to the user."""

from __future__ import annotations

from agentcli.errors import AgentcliError


class ToolError(AgentcliError):
    """A tool call that cannot be carried out; ``str(err)`` is told to the model.

    The loop turns it into an error tool result (the run goes on). It derives from
    ``AgentcliError`` only so that one leaking to the CLI boundary still prints as one line.
    """


class StopsRun(Exception):  # noqa: N818 - a mark mixed into errors, not raised alone
    """A mark on an error that stops the whole run rather than failing one tool call (a
    spent budget met by a scout): the tool lets it through instead of making it an error
    result, and its call is left ``running`` for resume to finish."""


def stops_run(err: BaseException) -> bool:
    """Whether ``err``, met inside a tool, must stop the run rather than become its result:
    a :class:`StopsRun` error, or the session file itself failing (SQLite, a damaged file) —
    the model can act on a tool's failure, never on the store's."""
    import sqlite3

    from agentcli.errors import SessionFileError

    return isinstance(err, (StopsRun, sqlite3.Error, SessionFileError, MemoryError))
