"""A plain note for a command that failed because of the sandbox, so the model can act on it.

A command's output is all there is to go on: a write where the sandbox allows none
fails with ``Read-only file system`` (``EROFS``) or ``Permission denied`` (``EACCES``)
naming a path outside the writable places; a hidden credential path is not there;
without network, a name does not resolve and a connection is unreachable or refused
(the sandbox's loopback is its own). Such a command gets one note after its output:
what the sandbox allows, and how to ask for more (``sandbox: false`` with a
justification, which the user is asked about).

Example:
    >>> print(sandbox_note(policy, "curl: (6) Could not resolve host: x.org\\n", 6))
    [sandbox: this command ran in the sandbox (workspace-write) and the network is off ...]
"""

from __future__ import annotations

import re
from pathlib import Path

from agentcli.agent.sandbox.policy import SandboxPolicy

WRITE_REFUSED = ("Read-only file system", "EROFS")
ACCESS_REFUSED = ("Permission denied", "EACCES")
NO_NETWORK = ("Could not resolve", "Couldn't resolve", "Temporary failure in name resolution",
              "Name or service not known", "nodename nor servname", "No address associated with hostname",
              "getaddrinfo", "Network is unreachable", "ENETUNREACH", "Connection refused", "ECONNREFUSED",
              "Failed to establish a new connection", "Name resolution", "EAI_AGAIN")
_PATH = re.compile(r"(?<![\w.~-])(/[^\s:'\"`,;()]+)")
HOW_TO_ASK = ('If the command really needs more, call run_shell again with "sandbox": false and a '
              '"justification" saying why: the user is asked each time (a scripted run refuses it).')


def sandbox_note(policy: SandboxPolicy, output: str, exit_code: int | None) -> str | None:
    """The note for a command whose output shows the sandbox refused it, else None.

    A refused write or a hidden path counts whatever the exit code (a script goes on
    after a failed step); signs of no network only when the command failed.
    """
    if not policy.confined:
        return None
    causes = []
    failed = exit_code not in (0, None)
    if any(word in output for word in WRITE_REFUSED):
        causes.append("a write outside the places it may write was refused")
    elif failed and any(word in output for word in ACCESS_REFUSED) and _names_a_path_outside(policy, output):
        causes.append("access to a path outside the places it may write was refused")
    hidden = [str(path) for path in policy.hidden if str(path) in output]
    if hidden:
        causes.append(f"{', '.join(hidden[:3])} {'is' if len(hidden) == 1 else 'are'} hidden from it")
    if not policy.network and failed and any(word in output for word in NO_NETWORK):
        causes.append("the network is off (127.0.0.1 is the sandbox's own, not this machine's)")
    if not causes:
        return None
    return (f"[sandbox: this command ran in the sandbox ({policy.mode}) and {'; '.join(causes)}: "
            f"{policy.describe()}. {HOW_TO_ASK}]")


def _names_a_path_outside(policy: SandboxPolicy, output: str) -> bool:
    """Whether the output names an absolute path where the command may not write."""
    writable = [Path("/tmp")] + ([policy.root] if policy.mode == "workspace-write" else [])
    for match in _PATH.finditer(output):
        path = Path(match.group(1))
        inside = any(path == top or top in path.parents for top in writable)
        if not inside or any(path == p or p in path.parents for p in policy.read_only):
            return True
    return False
