"""Typed errors. Each carries the exit code of SPEC §6; only the CLI boundary prints them."""

from __future__ import annotations


class AgentcliError(Exception):
    """Base of every error a user can meet; ``str(err)`` is the one line they see."""

    exit_code = 1


class UsageError(AgentcliError):
    """Bad usage or input: unknown session, bad option, unreadable or foreign file."""

    exit_code = 2


class SessionNotFoundError(UsageError):
    """No session matches the id, prefix or ``last`` that was given."""


class SessionFileError(UsageError):
    """A file that is corrupt, not an agentcli session, or from a newer agentcli."""


class ModelEndpointError(AgentcliError):
    """The model endpoint failed for good (after retries, or with a 4xx)."""

    exit_code = 3
    refused = False
    """True when the endpoint refused the request (a 400, 401, 403 or 404 that no retry
    changes: a bad key, model or URL); False when it was down or answered badly."""


class SessionBusyError(AgentcliError):
    """Another process holds the session's single-writer lock."""

    exit_code = 4


class RollbackConflictError(AgentcliError):
    """Files changed outside agentcli stand in the way of a rollback."""

    exit_code = 5

    def __init__(self, message: str, paths: list[str]):
        super().__init__(message)
        self.paths = paths
