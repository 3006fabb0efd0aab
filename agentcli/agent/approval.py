"""Who may do what: the approval modes of SPEC §2 and the grants remembered in a session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentcli.agent.cancel import NEVER, CancelToken
from agentcli.agent.grants import covers, grant_for
from agentcli.agent.sandbox.policy import Confinement
from agentcli.agent.workspace.edits import FileEdit
from agentcli.session.records import Grant

if TYPE_CHECKING:
    from agentcli.session.records import ToolCallRecord


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
    ``command`` is the whole shell command line; ``call_id`` the model's id of the call;
    ``confinement`` how a shell command would run (one that would run outside the
    session's sandbox is asked every time, and "always" is not among the answers);
    ``server`` the MCP server of an ``external`` call and ``details`` the arguments it
    sends, shown whole.
    """

    agent: str
    tool: str
    kind: str  # edit, shell or external
    summary: str
    command: str = ""
    edits: tuple[FileEdit, ...] = ()
    call_id: str = ""
    confinement: Confinement | None = None
    server: str = ""
    details: str = ""

    @property
    def always_asked(self) -> bool:
        """Whether only a person's yes, given now, may allow it (no mode, no grant)."""
        return self.confinement is not None and self.confinement.always_asked


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
        if request.always_asked:
            return self._outside(request, cancel)
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

    def _outside(self, request: ApprovalRequest, cancel: CancelToken) -> Decision:
        """A command that would run outside the session's sandbox: a person decides, every time."""
        assert request.confinement is not None
        if self.mode == "read-only":
            return Decision(False, "denied", "the session is in read-only approval mode: "
                            "no file changes or shell commands are allowed")
        if self.asker is None:
            if request.confinement.mode == "outside":
                why = ("running a command outside the sandbox (sandbox: false) needs the user's yes each "
                       "time, and nobody can be asked: there is no terminal. A scripted run allows it only "
                       "with --sandbox off; run it in the sandbox instead, or report what is missing")
            else:
                why = (f"there is no sandbox here ({request.confinement.reason}), so every shell command "
                       "needs the user's yes, and nobody can be asked: there is no terminal. Install "
                       "bubblewrap, or run with --sandbox off to allow unconfined commands")
            return Decision(False, "denied", why)
        answer = self.asker(request, cancel)
        if answer.choice in ("yes", "always"):  # never stored: no grant covers running outside
            return Decision(True, "allowed")
        reason = "the user declined this call" + (f": {answer.reason}" if answer.reason else "")
        return Decision(False, "denied", reason)


def mode_that_allows(kind: str | None) -> str:
    """The least permissive approval mode that runs a call of ``kind`` unasked."""
    return "--approval auto-edit" if kind == "edit" else "--approval full-auto"


def what_allows(call: ToolCallRecord, approval: str = "full-auto") -> str:
    """What would have allowed a denied call in a scripted run under ``approval``: an approval
    mode, or for a command that was to run outside the sandbox, ``--sandbox off`` (with
    ``--approval full-auto`` when the mode would ask anyway)."""
    if call.sandbox in ("outside", "unavailable"):
        also = "" if approval == "full-auto" else " --approval full-auto"
        if call.sandbox == "outside":
            return f"--sandbox off{also}"
        return f"installing bubblewrap{also and ' and' + also}, or --sandbox off{also}"
    return mode_that_allows(call.kind)
