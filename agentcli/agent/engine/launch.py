"""Before an engine runs: the settings of a run, and the session file it drives.

Every client starts a session the same way — the terminal, a scripted ``-p`` run,
``agentcli compact`` and the editor protocol — so the rules that decide where the key
and the transcript go live here once: flags > what the session remembers > environment >
config files > defaults; a resumed session keeps the endpoint it recorded; a discovered
local server is used only when asked for.

Example:
    >>> place = Place(root, SessionDirectory(root / ".agentcli" / "sessions"))
    >>> settings = run_settings(place, {"approval": "auto-edit"})
    >>> session = create_session(place, settings, "fix the tests", source="argument")
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcli.agent.config import Settings, resolve_settings
from agentcli.errors import UsageError

if TYPE_CHECKING:
    from agentcli.agent.origin import SessionOrigin
    from agentcli.session.directory import SessionDirectory
    from agentcli.session.session import Session

REMEMBERED = ("model", "base_url", "approval", "max_turns", "context_window", "shell_timeout",
              "scouts", "scout_depth", "scout_model", "scout_steps", "no_compact", "sandbox", "network")
"""What a session remembers of how it was started (never a key): resume uses it."""


@dataclass(frozen=True)
class Place:
    """Where a session lives and works: the workspace root and the sessions folder."""

    root: Path
    sessions: SessionDirectory

    @property
    def state_dir(self) -> Path:
        """agentcli's own folder at the workspace root (``.agentcli/``)."""
        return self.sessions.state_dir or self.root / ".agentcli"


def run_settings(place: Place, flags: dict[str, Any], remembered: dict[str, Any] | None = None,
                 origin: SessionOrigin | None = None) -> Settings:
    """The settings of one run: ``flags`` (None values: not given) > ``remembered`` (a
    resumed session's) > environment > config files > defaults.

    A resumed session talks to the endpoint it recorded (the default one included)
    unless ``--base-url`` says otherwise: an endpoint added later to the environment or
    a config file is not where its key and transcript go. A session file from elsewhere
    (``origin`` not trusted) is an untrusted source instead (``agent/untrusted.py``).
    ``flags["local"]`` points the run at a local server found on this machine. The
    warnings and notes a person should see are in ``settings.warnings`` and ``settings.notes``.

    Raises:
        UsageError: a bad value, or no key and no endpoint to talk to.
    """
    from agentcli.agent.model.key import DISCOVERED, api_key

    given = {k: v for k, v in flags.items() if v is not None and k != "local"}
    if origin is not None and not origin.trusted:
        settings = resolve_settings(place.root, given, untrusted=origin.layer(remembered, given))
    else:
        settings = resolve_settings(place.root, {**(remembered or {}), **given})
    own = origin is None or origin.trusted  # the session's own record, not a file from elsewhere
    if remembered is not None and "base_url" not in given and own:
        settings.base_url = recorded_endpoint(remembered.get("base_url"))
        if remembered.get("endpoint_discovered"):
            settings.sources["base_url"] = DISCOVERED  # found by --local: still never gets the key
    if not settings.approval:
        settings.approval = "ask"
    if flags.get("local"):
        use_local_server(settings, model_given="model" in given)
    if not settings.base_url and not api_key():
        raise UsageError(no_endpoint_message())
    return settings


def check_startable(settings: Settings) -> None:
    """Refuse, before a session file exists, a run the engine would refuse to build: full-auto
    without a sandbox, ``--max-cost`` for a model whose price is unknown, a bad ``shell_env``.

    Raises:
        UsageError: what is wrong and what to do, in one line.
    """
    from agentcli.agent.sandbox.startup import require_sandbox
    from agentcli.agent.secrets import ShellEnvPolicy

    require_sandbox(settings)
    try:
        ShellEnvPolicy.from_setting(settings.shell_env)
    except ValueError as err:
        raise UsageError(str(err)) from None
    if settings.max_cost is not None:
        from agentcli.agent.budget import require_price
        from agentcli.agent.pricing import Pricing

        pricing = Pricing(settings.prices)
        require_price(pricing, settings.model)
        if settings.scout_depth >= 1:
            require_price(pricing, settings.scout_model or settings.model)


def create_session(place: Place, settings: Settings, prompt: str | None, source: str,
                   cwd: Path | None = None) -> Session:
    """A new session file: schema, meta, system message and prompt, in one atomic step.

    ``cwd`` is the folder the person works in (default: the process's), for the
    ``AGENTS.md`` files from the root down to it."""
    from agentcli.agent.failpoints import failpoint
    from agentcli.agent.system_prompt import instruction_folders, system_prompt

    return place.sessions.create(
        workspace_root=place.root, model=settings.model, endpoint_host=settings.endpoint_host,
        settings=remembered_settings(settings),
        system=system_prompt(place.root, settings.approval or "ask",
                             instruction_folders(place.root, cwd or Path.cwd())),
        prompt=prompt, prompt_source=source, step=failpoint, secrets=run_secrets(settings),
    )


def use_local_server(settings: Settings, *, model_given: bool) -> None:
    """``--local``: point ``settings`` at the first local server found (and, unless a model
    was given on the command line, at the first model it lists)."""
    from agentcli.agent.model.key import DISCOVERED
    from agentcli.agent.model.local import candidates, find_local_servers

    if settings.sources.get("base_url") == "flag":
        raise UsageError("--local and --base-url both name the endpoint: give one of them")
    servers = find_local_servers()
    if not servers:
        where = ", ".join(f"{port} ({name})" for name, port in candidates())
        raise UsageError(f"--local found no OpenAI-compatible server on 127.0.0.1 ports {where}: start "
                         "one, or pass --base-url")
    server = servers[0]
    settings.base_url = server.base_url
    settings.sources["base_url"] = DISCOVERED
    if not model_given and server.models:
        settings.model = server.models[0]
        settings.sources["model"] = "--local"
    settings.notes.append(f"using {server.name} at {server.base_url}, model {settings.model}")


def no_endpoint_message() -> str:
    """Why a run without a key and an endpoint cannot start, and the local server to use if
    one is running (as ``--local`` would)."""
    from agentcli.agent.model.local import find_local_servers

    servers = find_local_servers()
    if servers:
        first = servers[0]
        model = f" --model {first.models[0]}" if first.models else ""
        return (f"no API key (OPENAI_API_KEY), but {first.name} is running at {first.base_url}: "
                f"use it with --local, or --base-url {first.base_url}{model}")
    return ("no API key: set OPENAI_API_KEY, or point --base-url (or OPENAI_BASE_URL) at a local "
            "OpenAI-compatible server that needs none (agentcli looked on ports 11434, 1234, 8080)")


def remembered_settings(settings: Settings) -> dict[str, Any]:
    """The settings a session stores in ``meta.settings`` (the endpoint without credentials)."""
    from agentcli.agent.model.key import DISCOVERED

    remembered = {name: getattr(settings, name) for name in REMEMBERED}
    remembered["base_url"] = settings.public_base_url
    if settings.sources.get("base_url") == DISCOVERED:
        remembered["endpoint_discovered"] = True
    return remembered


def recorded_endpoint(public: str | None) -> str | None:
    """The URL to use for an endpoint a session recorded without its credentials: the
    environment's ``OPENAI_BASE_URL`` when it is that endpoint (it may carry them)."""
    from agentcli.agent.model.endpoint import public_url

    full = os.environ.get("OPENAI_BASE_URL")
    return full if public and full and public_url(full) == public else public


def run_secrets(settings: Settings) -> list[str]:
    """Values never to store or print: the API key, and credentials inside the endpoint URL."""
    from urllib.parse import parse_qsl, urlparse

    from agentcli.agent.model.key import api_key

    secrets = [api_key() or ""]
    if settings.base_url:
        parts = urlparse(settings.base_url)
        secrets += [parts.username or "", parts.password or ""]
        secrets += [value for _, value in parse_qsl(parts.query)]
    return [s for s in secrets if s]
