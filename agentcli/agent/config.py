"""Settings, resolved once: flags > environment > workspace file > user file > defaults.

Files are TOML: ``agentcli.toml`` at the workspace root, and ``config.toml`` in the
user config folder (``platformdirs``, e.g. ``~/.config/agentcli/config.toml``).
Keys are the long option names with ``_`` for ``-``: ``model``, ``base_url``,
``approval``, ``max_turns``, ``context_window``, ``shell_timeout``, ``max_attempts``,
``retry_max_wait``, ``stream``, ``max_file_bytes``, ``scouts``, ``scout_depth``,
``scout_model``, ``scout_steps``, ``compact_at``, ``no_compact``, ``max_cost``, ``max_tokens``,
``sandbox`` (``workspace-write``, ``read-only``, ``off``), ``network`` (true: sandboxed commands
may use it), ``retention_days`` (a start deletes this workspace's sessions idle for longer),
the ``prices`` table (see ``agent/pricing.py``) and the table ``context_windows`` of
per-model windows (``[context_windows]`` then ``"llama3.1:8b" = 8192``). ``[mcp_servers.NAME]``
tables are read by ``agent/mcp/config.py`` (``mcp_config``, a file of more, is a setting).
An unknown key is
a warning naming the file and the key, not an error: a newer agentcli's config still works
here; a bad value is an error naming where it came from.

The context window is ``--context-window``, else ``context_window`` from the environment
or a file, else the model's entry in ``context_windows``, else agentcli's own table of
known models (:data:`MODEL_WINDOWS`), else 128,000.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentcli.agent.history.disk import DEFAULT_MAX_FILE_BYTES
from agentcli.agent.model.client import ModelSettings
from agentcli.agent.model.endpoint import endpoint_host, public_url
from agentcli.agent.sandbox.policy import SANDBOX_MODES
from agentcli.agent.tools.registry import DEFAULT_LIMITS
from agentcli.agent.untrusted import TRUST_KEYS, tighten_only, without_trust_keys
from agentcli.agent.user_config import user_config_path
from agentcli.errors import UsageError

if TYPE_CHECKING:
    from agentcli.agent.pricing import Pricing

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_CONTEXT_WINDOW = 128_000
MODEL_WINDOWS = {
    "gpt-4o": 128_000, "gpt-4o-mini": 128_000, "gpt-4-turbo": 128_000, "gpt-3.5-turbo": 16_385,
    "gpt-4.1": 1_047_576, "gpt-4.1-mini": 1_047_576, "gpt-4.1-nano": 1_047_576,
    "o1": 200_000, "o3": 200_000, "o3-mini": 200_000, "o4-mini": 200_000,
}
"""Context windows (tokens) of models agentcli knows; ``context_windows`` in a config adds more."""
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
    context_window: int | None = None  # tokens the model accepts; resolved per model when not given
    context_windows: dict[str, Any] | None = None  # per-model windows from the config files
    compact_at: float = 0.8  # compact older turns before a request passes this share of the window
    no_compact: bool = False  # never summarise: older turns leave the view (and the user is told)
    shell_timeout: int = int(DEFAULT_LIMITS.shell_timeout)  # one set of defaults: the tools'
    stream: bool = True
    max_attempts: int = ModelSettings.max_attempts  # tries of one model request (retries + 1)
    retry_max_wait: float = ModelSettings.retry_max_wait  # cap in seconds on one wait between retries
    idle_timeout: float = ModelSettings.idle_timeout  # seconds without a byte of an answer: retry
    attempt_deadline: float = ModelSettings.attempt_deadline  # seconds one attempt may take in all
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES  # larger files are logged by hash only, not restorable
    shell_env: dict[str, Any] | None = None  # {include = [...], exclude = [...]}: see agent/secrets.py
    scouts: int = 8  # scouts running at once; more tasks wait queued
    scout_depth: int = 1  # how deep scouts may nest: 1, scouts send no scouts of their own
    scout_model: str | None = None  # None: the orchestrator's model
    scout_steps: int = 20  # model calls per scout
    max_cost: float | None = None  # dollars one run may spend (needs a known price), then it stops
    max_tokens: int | None = None  # tokens one run may spend, then it stops
    prices: dict[str, Any] | None = None  # {model = {input, output, cached_input}}: $ per 1M tokens
    sandbox: str = "workspace-write"  # what shell commands may touch: see agent/sandbox/
    network: bool = False  # whether sandboxed shell commands may use the network
    mcp_config: str | None = None  # a file of more MCP servers (--mcp-config): see agent/mcp/config.py
    retention_days: int | None = None  # a start deletes the sessions not active for longer (None: keep all)
    # not settings: what resolving found out
    warnings: list[str] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list, repr=False)  # what a person should be told (not wrong)
    trusted: bool = field(default=False, repr=False)  # the workspace's agentcli.toml may set everything
    sources: dict[str, str] = field(default_factory=dict, repr=False)  # setting -> where it came from

    @property
    def endpoint_host(self) -> str:
        """The host (and port) of the endpoint, as logged in ``model_calls``: never credentials."""
        return endpoint_host(self.base_url)

    @property
    def public_base_url(self) -> str | None:
        """The endpoint as stored and shown: scheme, host and path only."""
        return public_url(self.base_url) if self.base_url else None


SENSITIVE = TRUST_KEYS
"""Settings that decide where the key goes, what runs unasked, what is spent or kept: a
workspace's own ``agentcli.toml`` may set them only once the user trusts that workspace
(``agent/untrusted.py``; its limits it may only lower until then)."""

OWN_TABLES = ("mcp_servers",)
"""Tables of the config files that other modules read (not settings, not unknown keys)."""


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):  # imported here: a run without config files needs no parser
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise UsageError(f"cannot read config file {path}: {err}") from None


def resolve_settings(
    workspace_root: Path,
    flags: dict[str, Any],
    environ: dict[str, str] | None = None,
    user_file: Path | None = None,
    *,
    untrusted: tuple[str, dict[str, Any], str] | None = None,
) -> Settings:
    """Merge the layers; flags whose value is ``None`` were not given.

    A workspace's ``agentcli.toml`` that is not trusted, and ``untrusted`` (``(source,
    layer, why)``: the settings a session file from elsewhere recorded, just below the
    environment), may not set what needs trust and may only lower limits
    (``agent/untrusted.py``); what they tried beyond that is a warning naming the source.

    Example:
        >>> resolve_settings(Path("."), {"model": "llama3"}).model
        'llama3'
    """
    environ = os.environ if environ is None else environ
    user_path = user_file or user_config_path()
    workspace_path = workspace_root / "agentcli.toml"
    trusted = is_trusted(workspace_root)
    doubted = []
    if not trusted:
        doubted.append((str(workspace_path), _read_toml(workspace_path),
                        f"this workspace is not trusted (agentcli trust {workspace_root} allows it)"))
    if untrusted is not None:
        doubted.append(untrusted)
    warnings: list[str] = []
    own_layers = [_Layer(str(user_path), _read_toml(user_path))]
    if trusted:
        own_layers.append(_Layer(str(workspace_path), _read_toml(workspace_path)))
    environment = _Layer("", {key: environ[var] for key, var in ENVIRONMENT.items() if environ.get(var)},
                         "environment")
    given = _Layer("flag", {key: value for key, value in flags.items() if value is not None}, "flag")
    layers = list(own_layers)
    if doubted:
        layers += _tightened(doubted, _merge([*own_layers, environment, given], []), warnings)
    settings = _merge([*layers, environment, given], warnings)
    settings.warnings, settings.trusted = warnings, trusted
    return settings


def _tightened(doubted: list[tuple[str, dict[str, Any], str]], own: Settings,
               warnings: list[str]) -> list[_Layer]:
    """The untrusted layers, each without what needs trust and without the limits it would
    raise above ``own`` (the user's own settings); a warning per layer says what went."""
    layers = []
    for source, layer, why in doubted:
        kept, refused = without_trust_keys(layer)
        # a refused value that is the user's own anyway changes nothing: not worth a warning
        refused = [key for key in refused if layer[key] != getattr(own, key.replace("-", "_"), None)]
        kept, undone = tighten_only(kept, own, lambda model: _window(own, model))
        layers.append(_Layer(source, kept))
        parts = [f"{', '.join(refused)} (they decide where your API key goes, what runs unasked or what "
                 "is spent)"] if refused else []
        parts += [f"{', '.join(undone)} (it may only lower your limits)"] if undone else []
        if parts:
            warnings.append(f"{source}: ignoring {' and '.join(parts)}: {why}")
    return layers


@dataclass
class _Layer:
    """One layer of settings: a file (``source`` its path), the environment or the flags."""

    source: str
    values: dict[str, Any]
    kind: str = "file"


def _merge(layers: list[_Layer], warnings: list[str]) -> Settings:
    """Settings from ``layers``, lowest first, checked; a bad value names its file."""
    known = {f.name for f in fields(Settings)} - {"warnings", "notes", "trusted", "sources"}
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer in layers:
        for key, value in layer.values.items():
            name = key.replace("-", "_")
            if name in known:
                merged[name] = value
                sources[name] = f"${ENVIRONMENT[name]}" if layer.kind == "environment" else layer.source
            elif layer.kind == "file" and name not in OWN_TABLES:
                warnings.append(f"{layer.source}: unknown setting '{key}' is ignored")
    settings = Settings(**merged, sources=sources)
    try:
        _check(settings)
    except UsageError as err:  # name where the bad value came from
        name = str(err).split(" ", 1)[0].rstrip(":").replace("-", "_").split(".")[0]
        where = sources.get(name)
        raise UsageError(f"{where}: {err}" if where and where != "flag" else str(err)) from None
    return settings


def _check(settings: Settings) -> None:
    """Coerce and check the values; UsageError starting with the setting's name."""
    from agentcli.agent.pricing import Pricing

    for name in ("retry_max_wait", "idle_timeout", "attempt_deadline"):
        try:
            value = float(getattr(settings, name))
        except (TypeError, ValueError):
            raise UsageError(f"{name} must be a number of seconds") from None
        if not value > 0 or value == float("inf"):
            raise UsageError(f"{name} must be a positive number of seconds")
        setattr(settings, name, value)
    _resolve_context(settings)
    whole = ("max_turns", "context_window", "shell_timeout", "max_attempts", "max_file_bytes", "max_tokens",
             "scouts", "scout_steps", "retention_days")
    for name in whole:
        if getattr(settings, name) is None:
            continue
        try:
            setattr(settings, name, int(getattr(settings, name)))
        except (TypeError, ValueError, OverflowError):  # OverflowError: inf from a TOML file
            raise UsageError(f"{name.replace('_', '-')} must be a whole number") from None
        if getattr(settings, name) < 1:
            raise UsageError(f"{name.replace('_', '-')} must be at least 1")
    if settings.max_cost is not None:
        try:
            settings.max_cost = float(settings.max_cost)
        except (TypeError, ValueError):
            raise UsageError("max-cost must be a number of dollars") from None
        if not math.isfinite(settings.max_cost) or settings.max_cost <= 0:  # nan would be no limit at all
            raise UsageError(f"max-cost must be a number of dollars more than 0, not {settings.max_cost:g}")
    if settings.prices is not None:
        if not isinstance(settings.prices, dict):
            raise UsageError("prices must be a table: [prices.\"MODEL\"] input = ..., output = ...")
        Pricing(settings.prices)  # raises naming the bad entry
    if settings.mcp_config is not None:
        if not isinstance(settings.mcp_config, str):
            raise UsageError("mcp_config must be the path of a file (.json or .toml) of MCP servers")
        settings.mcp_config = str(Path(settings.mcp_config).expanduser().absolute())
    if settings.shell_env is not None and not isinstance(settings.shell_env, dict):
        raise UsageError("shell_env must be a table: shell_env = {include = [...], exclude = [...]}")
    try:
        settings.scout_depth = int(settings.scout_depth)
    except (TypeError, ValueError):
        raise UsageError("scout-depth must be a whole number") from None
    if settings.scout_depth < 0:
        raise UsageError("scout-depth must be at least 0 (0: no scout tool)")
    if settings.sandbox not in SANDBOX_MODES:
        raise UsageError(f"sandbox: unknown mode '{settings.sandbox}' (one of {', '.join(SANDBOX_MODES)})")
    if not isinstance(settings.network, bool):
        raise UsageError("network must be true or false")
    if settings.approval is not None and settings.approval not in APPROVAL_MODES:
        raise UsageError(f"approval: unknown mode '{settings.approval}' (one of {', '.join(APPROVAL_MODES)})")


def _window(settings: Settings, model: str) -> int:
    """The context window ``settings`` would give ``model`` (its table, agentcli's, the default)."""
    table = settings.context_windows if isinstance(settings.context_windows, dict) else {}
    return table.get(model) or MODEL_WINDOWS.get(model, DEFAULT_CONTEXT_WINDOW)


def _resolve_context(settings: Settings) -> None:
    """Check the compaction settings and settle the context window for the model."""
    windows = settings.context_windows or {}
    if not isinstance(windows, dict):
        raise UsageError('context_windows must be a table of model = tokens, e.g. "llama3.1:8b" = 8192')
    if settings.context_window is None:
        settings.context_window = windows.get(settings.model) or MODEL_WINDOWS.get(
            settings.model, DEFAULT_CONTEXT_WINDOW)
    try:
        settings.compact_at = float(settings.compact_at)
    except (TypeError, ValueError):
        raise UsageError("compact_at must be a number between 0.1 and 1 (a share of the window)") from None
    if not 0.1 <= settings.compact_at <= 1:
        raise UsageError("compact_at must be a number between 0.1 and 1 (a share of the window)")
    settings.no_compact = bool(settings.no_compact)


def trust_file() -> Path:
    """The user's list of trusted workspaces: one absolute path a line, beside the user config."""
    return user_config_path().with_name("trusted-workspaces")


def trusted_workspaces() -> list[Path]:
    """The workspaces whose ``agentcli.toml`` may set every setting."""
    try:
        lines = trust_file().read_text().splitlines()
    except OSError:
        return []
    return [Path(line) for line in lines if line.strip() and not line.startswith("#")]


def is_trusted(workspace_root: Path) -> bool:
    """True when the user ran ``agentcli trust`` for this workspace (exact folder)."""
    return workspace_root.resolve() in {p.resolve() for p in trusted_workspaces()}


def trust(workspace_root: Path) -> bool:
    """Record ``workspace_root`` as trusted; False when it already was."""
    root = workspace_root.resolve()
    if is_trusted(root):
        return False
    path = trust_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(f"{root}\n")
    return True


def configured_pricing(workspace_root: Path | str) -> Pricing:
    """The prices for a workspace: the built-in table with its config files' ``prices``
    (the built-in table alone when the config cannot be read: a price is no reason to fail).
    For the read-only commands; a running session's engine builds one from its settings."""
    from agentcli.agent.pricing import Pricing

    try:
        return Pricing(resolve_settings(Path(workspace_root), {}).prices)
    except UsageError:
        return Pricing()
