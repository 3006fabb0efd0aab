"""Settings, resolved once: flags > environment > workspace file > user file > defaults.

Files are TOML: ``agentcli.toml`` at the workspace root, and ``config.toml`` in the
user config folder (``platformdirs``, e.g. ``~/.config/agentcli/config.toml``).
Keys are the long option names with ``_`` for ``-``: ``model``, ``base_url``,
``approval``, ``max_turns``, ``context_window``, ``shell_timeout``, ``max_attempts``,
``retry_max_wait``, ``stream``, ``max_file_bytes``, ``scouts``, ``scout_depth``,
``scout_model``, ``scout_steps``. An unknown key is a warning naming the
file and the key, not an error: a newer agentcli's config still works here.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from agentcli.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_MODEL = "gpt-4o-mini"
APPROVAL_MODES = ("ask", "auto-edit", "full-auto", "read-only")

ENVIRONMENT = {
    "model": "AGENTCLI_MODEL",
    "base_url": "OPENAI_BASE_URL",
    "approval": "AGENTCLI_APPROVAL",
}


@dataclass
class Settings:
    """Everything a run can be told; ``None`` means "not given" before resolving."""

    model: str = DEFAULT_MODEL
    base_url: str | None = None
    approval: str | None = None  # resolved later: "ask" in a terminal, else not asking
    max_turns: int = 100
    context_window: int = 128_000  # tokens the model accepts; the transcript is cut to fit
    shell_timeout: int = 120
    stream: bool = True
    max_attempts: int = 6  # tries of one model request (retries + 1)
    retry_max_wait: float = 60.0  # cap in seconds on one wait between retries
    max_file_bytes: int = 20_000_000  # larger files are logged by hash only, not restorable
    scouts: int = 8  # scouts running at once; more tasks wait queued
    scout_depth: int = 1  # how deep scouts may nest: 1, scouts send no scouts of their own
    scout_model: str | None = None  # None: the orchestrator's model
    scout_steps: int = 20  # model calls per scout
    warnings: list[str] = field(default_factory=list, repr=False)  # not a setting: what to tell the user

    @property
    def endpoint_host(self) -> str:
        """The host name of the endpoint, as logged in ``model_calls``."""
        if not self.base_url:
            return "api.openai.com"
        return urlparse(self.base_url).netloc or self.base_url


def user_config_path() -> Path:
    """The user-wide config file (it may not exist)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("agentcli")) / "config.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"cannot read config file {path}: {err}") from None


def resolve_settings(
    workspace_root: Path,
    flags: dict[str, Any],
    environ: dict[str, str] | None = None,
    user_file: Path | None = None,
) -> Settings:
    """Merge the layers; flags whose value is ``None`` were not given.

    Example:
        >>> resolve_settings(Path("."), {"model": "llama3"}).model
        'llama3'
    """
    environ = os.environ if environ is None else environ
    known = {f.name for f in fields(Settings)} - {"warnings"}
    merged: dict[str, Any] = {}
    warnings: list[str] = []
    user_path = user_file or user_config_path()
    workspace_path = workspace_root / "agentcli.toml"
    layers = [
        (str(user_path), _read_toml(user_path)),
        (str(workspace_path), _read_toml(workspace_path)),
        ("", {key: environ[var] for key, var in ENVIRONMENT.items() if environ.get(var)}),
        ("", {key: value for key, value in flags.items() if value is not None}),
    ]
    for source, layer in layers:
        for key, value in layer.items():
            name = key.replace("-", "_")
            if name in known:
                merged[name] = value
            elif source:
                warnings.append(f"{source}: unknown setting '{key}' is ignored")
    settings = Settings(**merged, warnings=warnings)
    try:
        settings.retry_max_wait = float(settings.retry_max_wait)
    except (TypeError, ValueError):
        raise UsageError("retry_max_wait must be a number of seconds") from None
    for name in ("max_turns", "context_window", "shell_timeout", "max_attempts", "max_file_bytes",
                 "scouts", "scout_steps"):
        try:
            setattr(settings, name, int(getattr(settings, name)))
        except (TypeError, ValueError):
            raise UsageError(f"{name.replace('_', '-')} must be a whole number") from None
        if getattr(settings, name) < 1:
            raise UsageError(f"{name.replace('_', '-')} must be at least 1")
    try:
        settings.scout_depth = int(settings.scout_depth)
    except (TypeError, ValueError):
        raise UsageError("scout-depth must be a whole number") from None
    if settings.scout_depth < 0:
        raise UsageError("scout-depth must be at least 0 (0: no scout tool)")
    if settings.approval is not None and settings.approval not in APPROVAL_MODES:
        raise UsageError(f"unknown approval mode '{settings.approval}' (one of {', '.join(APPROVAL_MODES)})")
    return settings
