"""Who may do what: the approval modes of SPEC §2 and the grants remembered in a session."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from agentcli.agent.grants import EXACT_MARK, PREFIX, covers, grant_for
from agentcli.session.records import Grant

# Tools whose first word alone says little: their grant covers two words ("git status").
_TWO_WORD_TOOLS = {
    "git", "npm", "npx", "yarn", "pnpm", "cargo", "go", "uv", "pip", "pip3", "python", "python3",
    "poetry", "docker", "make", "dotnet", "bundle", "rake", "mvn", "gradle",
}
# A command-prefix grant never covers a compound command: anything after these could be anything.
_COMPOUND = re.compile(r"[;&|`<>\n]|\$\(")


@dataclass(frozen=True)
class Decision:
    """The answer for one tool call; ``grant`` is stored when the user said "always"."""

    allowed: bool
    how: str  # auto, granted, allowed, always, denied
    reason: str = ""
    grant: Grant | None = None


# What the interface is asked: the call's kind and one-line summary; answers y / n / always.
AskFn = Callable[[str, str, str], str]


def command_prefix(command: str) -> str:
    """The pattern an "always" answer stores (as a ``command_prefix`` grant) for a command.

    The policy is :func:`agentcli.agent.grants.grant_for`: a harmless command's prefix;
    for an interpreter, a wrapper or a destructive program the exact command (marked so
    that :func:`_granted` matches it whole); for a compound command ``""``, which grants
    nothing.

    Example:
        >>> command_prefix("git status --short")
        'git status'
    """
    grant = grant_for(command)
    if grant is None:
        return ""
    return grant.pattern if grant.kind == PREFIX else EXACT_MARK + grant.pattern


def _granted(kind: str, command: str, grants: list[Grant]) -> bool:
    for grant in grants:
        if kind == "edit" and grant.kind == "edits":
            return True
        if kind == "shell" and covers(grant, command):
            return True
    return False


class Approver:
    """Decide each call by mode: ``ask``, ``auto-edit``, ``full-auto`` or ``read-only``.

    ``ask`` is None when nobody can be asked (no terminal): what would need asking
    is then denied, and the model is told why.
    """

    def __init__(self, mode: str, ask: AskFn | None):
        self.mode = mode
        self.ask = ask

    def decide(self, kind: str, summary: str, command: str, grants: list[Grant]) -> Decision:
        """Decide a call of ``kind`` (read, plan, edit, shell)."""
        if kind in ("read", "plan") or self.mode == "full-auto":
            return Decision(True, "auto")
        if self.mode == "read-only":
            return Decision(False, "denied", "the session is in read-only approval mode: "
                            "no file changes or shell commands are allowed")
        if kind == "edit" and self.mode == "auto-edit":
            return Decision(True, "auto")
        if _granted(kind, command, grants):
            return Decision(True, "granted")
        if self.ask is None:
            return Decision(False, "denied", f"this {'shell command' if kind == 'shell' else 'edit'} "
                            f"needs approval (--approval {self.mode}) and nobody can be asked: "
                            "there is no terminal. Rerun with --approval full-auto or auto-edit to allow it")
        answer = self.ask(kind, summary, command)
        if answer == "always":
            grant = Grant("edits", "") if kind == "edit" else Grant("command_prefix", command_prefix(command))
            return Decision(True, "always", grant=grant)
        if answer == "y":
            return Decision(True, "allowed")
        return Decision(False, "denied", "the user declined this call")
