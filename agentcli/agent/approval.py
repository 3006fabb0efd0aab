"""Who may do what: the approval modes of SPEC §2 and the grants remembered in a session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agentcli.agent.cancel import NEVER, CancelToken
from agentcli.agent.grants import covers, grant_for
from agentcli.agent.workspace.edits import FileEdit
from agentcli.session.records import Grant


@dataclass(frozen=True)
class Decision:
    """The answer for one tool call; ``grant`` is stored when the user said "always"."""

    allowed: bool
    how: str  # auto, granted, allowed, always, denied
    reason: str = ""
    grant: Grant | None = None


@dataclass(frozen=True)
class ApprovalRequest:
    """A question the agent puts to whoever can answer (a person at a terminal, a test).

    ``edits`` are exactly the bytes the call will write, for showing a diff;
    ``command`` is the whole shell command line; ``server`` the MCP server of an
    ``external`` call and ``details`` the arguments it sends, shown whole.
    """

    agent: str
    tool: str
    kind: str  # edit, shell or external
    summary: str
    command: str = ""
    edits: tuple[FileEdit, ...] = ()
    server: str = ""
    details: str = ""


MCP_TOOL = "mcp_tool"  # a grant's kind: pattern is the one MCP tool it allows (its NAME__tool)
ASKED_KINDS = ("edit", "shell", "external")
_NOUNS = {"edit": "edit", "shell": "shell command", "external": "MCP tool call"}


@dataclass(frozen=True)
class ApprovalAnswer:
    """``yes``, ``no`` or ``always``; a ``no`` may carry the person's reason for the model."""

    choice: str
    reason: str = ""


# Whoever answers: called on the agent's thread, it may block until the answer comes,
# and must give up (raise Cancelled) when the token is set.
Asker = Callable[[ApprovalRequest, CancelToken], ApprovalAnswer]


def _granted(request: ApprovalRequest, grants: list[Grant]) -> bool:
    for grant in grants:
        if request.kind == "edit" and grant.kind == "edits":
            return True
        if request.kind == "shell" and covers(grant, request.command):
            return True
        if request.kind == "external" and grant.kind == MCP_TOOL and grant.pattern == request.tool:
            return True
    return False


def grant_of(request: ApprovalRequest) -> Grant | None:
    """What "always" grants: every edit, a command (prefix), or one tool of one MCP server."""
    if request.kind == "edit":
        return Grant("edits", "")
    if request.kind == "external":
        return Grant(MCP_TOOL, request.tool)
    return grant_for(request.command)


class Approver:
    """Decide each call by mode: ``ask``, ``auto-edit``, ``full-auto`` or ``read-only``.

    ``asker`` is None when nobody can be asked (no terminal): what would need asking
    is then denied, and the model is told why. Otherwise the question is a request
    the interface answers; the agent never reads a terminal itself.
    """

    def __init__(self, mode: str, asker: Asker | None):
        self.mode = mode
        self.asker = asker

    def decide(self, request: ApprovalRequest, grants: list[Grant], cancel: CancelToken = NEVER) -> Decision:
        """Decide a call of ``request.kind`` (read, plan, agent: allowed; edit, shell,
        external: by mode — an MCP tool that only reads is of kind read)."""
        kind = request.kind
        if kind not in ASKED_KINDS or self.mode == "full-auto":
            return Decision(True, "auto")
        if self.mode == "read-only":
            return Decision(False, "denied", "the session is in read-only approval mode: no file "
                            "changes, shell commands or MCP tools that may change things are allowed")
        if kind == "edit" and self.mode == "auto-edit":
            return Decision(True, "auto")
        if _granted(request, grants):
            return Decision(True, "granted")
        if self.asker is None:
            return Decision(False, "denied", f"this {_NOUNS[kind]} "
                            f"needs approval (--approval {self.mode}) and nobody can be asked: "
                            f"there is no terminal. Rerun with {mode_that_allows(kind)} to allow it")
        answer = self.asker(request, cancel)
        if answer.choice == "always":
            # exactly what was shown (agent/grants.py); a compound command is allowed this
            # once and stores nothing, since no grant could cover it safely
            return Decision(True, "always", grant=grant_of(request))
        if answer.choice == "yes":
            return Decision(True, "allowed")
        reason = "the user declined this call" + (f": {answer.reason}" if answer.reason else "")
        return Decision(False, "denied", reason)


def mode_that_allows(kind: str | None) -> str:
    """The least permissive approval mode that runs a call of ``kind`` unasked."""
    return "--approval auto-edit" if kind == "edit" else "--approval full-auto"
