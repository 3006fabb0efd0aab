"""Whether a session file about to be resumed is the user's own, or a file from elsewhere.

A file from elsewhere is an untrusted source, like a workspace's ``agentcli.toml`` before
``agentcli trust`` (``agent/untrusted.py``): what it recorded that needs trust is not used.

Example:
    >>> session_origin(Path("dl/1m8c.sqlite"), Path(".agentcli/sessions")).trusted
    False
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentcli.session.session import Session


@dataclass(frozen=True)
class SessionOrigin:
    """Whether the settings a session file recorded may be taken as the user's own.

    A file this user owns, in the sessions folder in use (where agentcli itself creates
    them), or one they named with ``agentcli trust FILE``, is trusted. Anything else — a
    file given by path from elsewhere, a CI artifact, a session left in a repository's old
    ``./sessions`` folder — is treated like an untrusted ``agentcli.toml``: what it
    recorded that needs trust is not used, its limits only tighten, its "always allow"
    grants and its recorded workspace are not adopted.
    """

    trusted: bool
    path: Path
    why: str = ""

    def layer(self, remembered: dict[str, Any] | None,
              given: dict[str, Any]) -> tuple[str, dict[str, Any], str]:
        """``resolve_settings``'s ``untrusted`` argument: what the file recorded, without
        what the command line gives anyway or left unset."""
        values = {k: v for k, v in (remembered or {}).items() if v is not None and k not in given}
        return str(self.path), values, self.why

    def withhold(self, session: Session, recorded: Path | None, root: Path) -> str | None:
        """For a file not trusted: stop using its recorded "always allow" grants, and say
        so (and that its ``recorded`` workspace is not adopted: None when ``-C`` chose the
        workspace anyway). None when nothing is withheld."""
        if self.trusted:
            return None
        grants = session.grants.ignore_recorded()
        left = ([f"its {grants} 'always allow' grant{'s' if grants > 1 else ''}"] if grants else []) + (
            [f"its workspace {recorded} (working in {root}; -C chooses)"]
            if recorded is not None and recorded != root else [])
        if not left:
            return None
        return f"{self.path}: not using {' or '.join(left)}: {self.why.split(';', 1)[0]}"


def session_origin(path: Path, sessions_dir: Path, untrusted_origin: str | None = None) -> SessionOrigin:
    """Decide whether ``path`` (a session file about to be resumed) is the user's own.

    ``untrusted_origin`` (the file's ``meta.untrusted_origin``): it is a fork of a session
    file from elsewhere, which being copied into the user's folder does not make theirs."""
    from agentcli.agent.config import is_trusted

    real = path.resolve()
    folder = sessions_dir.resolve()
    try:
        mine = real.stat().st_uid == os.geteuid()
    except OSError:
        mine = False
    if is_trusted(real):
        return SessionOrigin(True, path)
    if untrusted_origin:
        return SessionOrigin(False, path, (
            f"this session is a fork of a session file from elsewhere ({untrusted_origin}); --base-url, "
            f"--approval and --model choose them, or agentcli trust {path} uses what it recorded"))
    if mine and real.parent == folder:
        return SessionOrigin(True, path)
    return SessionOrigin(False, path, (
        f"this session file was not created by you in this workspace's sessions folder ({folder}); "
        f"--base-url, --approval and --model choose them, or agentcli trust {path} uses what it recorded"))
