"""Where MCP servers are declared, and what each declaration says.

Four places, read in this order (a later declaration of a name replaces an earlier one):

- ``[mcp_servers.NAME]`` tables in the user's ``config.toml``, in the shape Codex reads:
  ``command``, ``args``, ``env`` (a table), ``env_vars`` (names passed on from agentcli's
  environment), ``cwd`` for a stdio server; ``url``, ``http_headers``, ``env_http_headers``
  (header = variable name) and ``bearer_token_env_var`` for streamable HTTP (``headers`` is
  read as ``http_headers``); and ``enabled``, ``startup_timeout_sec``, ``tool_timeout_sec``
  (``tool_timeout`` too), ``enabled_tools``, ``disabled_tools``, and per tool
  ``[mcp_servers.NAME.tools.TOOL]`` with ``read_only`` / ``idempotent`` to override what the
  server's annotations say;
- the workspace's ``agentcli.toml`` (the same tables) and
- its ``.mcp.json`` (``{"mcpServers": {NAME: {"type", "command", "args", "env", "url",
  "headers"}}}``, the format Claude Code reads) — both **only when the workspace is trusted**:
  a cloned repository must not run commands by declaring a server; an untrusted one is
  kept, marked with why it does not start;
- ``--mcp-config FILE`` (either format, by its suffix), for CI.

Values may name environment variables as ``${VAR}`` or ``${VAR:-default}``; they are
expanded when the server starts and never stored.

Example:
    >>> servers = load_servers(Path("/repo"), None, trusted=False)
    >>> [(s.name, s.blocked) for s in servers]
    [('git', None), ('repo-tool', '/repo/.mcp.json declares it and this workspace is not trusted ...')]
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentcli.errors import UsageError

STARTUP_TIMEOUT = 10.0  # seconds a server may take to start and list its tools (Codex's default)
TOOL_TIMEOUT = 60.0  # seconds one call may take (Codex's default)
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_KEYS = {"command", "args", "env", "env_vars", "cwd", "url", "http_headers", "headers", "env_http_headers",
         "bearer_token_env_var", "enabled", "startup_timeout_sec", "tool_timeout_sec", "tool_timeout",
         "enabled_tools", "disabled_tools", "tools", "type", "transport", "description"}
_TOOL_KEYS = {"read_only", "idempotent"}


@dataclass(frozen=True)
class ToolOverride:
    """What the config says of one tool, over the server's annotations (None: as the server says)."""

    read_only: bool | None = None
    idempotent: bool | None = None


@dataclass
class ServerConfig:
    """One declared MCP server.

    ``blocked`` says why it does not start (disabled, an untrusted workspace declared it);
    ``source`` is the file that declared it.
    """

    name: str
    source: str
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    env_vars: list[str] = field(default_factory=list)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    env_headers: dict[str, str] = field(default_factory=dict)  # header -> variable name
    bearer_token_env_var: str | None = None
    enabled: bool = True
    startup_timeout: float = STARTUP_TIMEOUT
    tool_timeout: float = TOOL_TIMEOUT
    enabled_tools: list[str] | None = None
    disabled_tools: list[str] = field(default_factory=list)
    tools: dict[str, ToolOverride] = field(default_factory=dict)
    blocked: str | None = None

    @property
    def transport(self) -> str:
        """``stdio`` or ``http``."""
        return "http" if self.url else "stdio"

    @property
    def target(self) -> str:
        """What it runs or reaches, for people: the command line, or the URL without credentials."""
        if self.url:
            from agentcli.agent.model.endpoint import public_url

            return public_url(self.url)
        return " ".join([self.command or "", *self.args])

    def offers(self, tool: str) -> bool:
        """Whether ``enabled_tools`` / ``disabled_tools`` let ``tool`` be offered."""
        if self.enabled_tools is not None and tool not in self.enabled_tools:
            return False
        return tool not in self.disabled_tools

    def environment(self, base: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
        """The server's environment: ``base`` (agentcli's, scrubbed of secrets as for shell
        commands), plus the variables its config names (``env_vars``), plus its ``env``."""
        env = dict(base)
        env.update({name: environ[name] for name in self.env_vars if name in environ})
        env.update({key: expand(value, environ) for key, value in self.env.items()})
        return env

    def request_headers(self, environ: Mapping[str, str]) -> dict[str, str]:
        """The HTTP headers to send, variables expanded (values never stored or shown)."""
        headers = {key: expand(value, environ) for key, value in self.headers.items()}
        headers.update({key: environ.get(var, "") for key, var in self.env_headers.items()})
        if self.bearer_token_env_var:
            headers["Authorization"] = f"Bearer {environ.get(self.bearer_token_env_var, '')}"
        return {key: value for key, value in headers.items() if value}

    def secrets(self, environ: Mapping[str, str]) -> list[str]:
        """Values never to store or print: header values and the variables the config names."""
        values = list(self.request_headers(environ).values())
        values += [environ[name] for name in self.env_vars if name in environ]
        values += [environ[var] for var in self.env_headers.values() if var in environ]
        if self.bearer_token_env_var and self.bearer_token_env_var in environ:
            values.append(environ[self.bearer_token_env_var])
        return [v for v in values if v]


def expand(value: str, environ: Mapping[str, str]) -> str:
    """``${VAR}`` and ``${VAR:-default}`` in ``value``, from ``environ``."""
    return _VARIABLE.sub(lambda m: environ.get(m.group(1)) or (m.group(2) or ""), value)


def load_servers(workspace_root: Path, mcp_config: str | None, *, trusted: bool,
                 user_file: Path | None = None) -> list[ServerConfig]:
    """Every declared server, in declaration order; untrusted or disabled ones ``blocked``.

    Raises:
        UsageError: a file cannot be read, or a declaration has a bad shape (named).
    """
    from agentcli.agent.config import user_config_path

    found: dict[str, ServerConfig] = {}
    untrusted = (f"declares it and this workspace is not trusted "
                 f"(agentcli trust {workspace_root} lets it start servers)")
    layers: list[tuple[Path, bool]] = [(user_file or user_config_path(), True),
                                       (workspace_root / "agentcli.toml", trusted),
                                       (workspace_root / ".mcp.json", trusted)]
    if mcp_config:
        path = Path(mcp_config).expanduser()
        if not path.is_file():
            raise UsageError(f"--mcp-config {mcp_config}: no such file")
        layers.append((path, True))
    for path, allowed in layers:
        for server in _read(path):
            if not allowed:
                server.blocked = f"{path} {untrusted}"
                found.setdefault(server.name, server)  # never replaces a trusted declaration
                continue
            if not server.enabled:
                server.blocked = f"disabled (enabled = false in {path})"
            found.pop(server.name, None)
            found[server.name] = server
    return list(found.values())


def _read(path: Path) -> list[ServerConfig]:
    """The declarations of one file (none when it does not exist)."""
    if not path.is_file():
        return []
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise UsageError(f"cannot read {path}: {err}") from None
        table = data.get("mcpServers", data.get("mcp_servers", {})) if isinstance(data, dict) else None
    else:
        from agentcli.agent.config import _read_toml

        table = _read_toml(path).get("mcp_servers", {})
    if not isinstance(table, dict):
        raise UsageError(f"{path}: the MCP servers must be a table of NAME = {{command = ...}} "
                         "or {url = ...}")
    return [_server(path, name, entry) for name, entry in table.items()]


def _server(path: Path, name: str, entry: Any) -> ServerConfig:
    where = f"{path}: MCP server {name!r}"
    if not _NAME.match(name):
        raise UsageError(f"{where}: a server name may hold only letters, digits, '_' and '-'")
    if not isinstance(entry, dict):
        raise UsageError(f"{where} must be a table with command = ... or url = ...")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (the keys are: {', '.join(sorted(_KEYS))})")
    kind = entry.get("type") or entry.get("transport")
    if kind not in (None, "stdio", "http", "streamable_http", "streamable-http"):
        raise UsageError(f"{where}: type {kind!r} is not supported (stdio or http)")
    if bool(entry.get("command")) == bool(entry.get("url")):
        raise UsageError(f"{where} needs either command = \"...\" (stdio) or url = \"...\" (streamable HTTP)")
    server = ServerConfig(
        name=name, source=str(path),
        command=_text(where, entry, "command"), args=_texts(where, entry, "args") or [],
        env=_table(where, entry, "env"), env_vars=_texts(where, entry, "env_vars") or [],
        cwd=_text(where, entry, "cwd"), url=_text(where, entry, "url"),
        headers={**_table(where, entry, "headers"), **_table(where, entry, "http_headers")},
        env_headers=_table(where, entry, "env_http_headers"),
        bearer_token_env_var=_text(where, entry, "bearer_token_env_var"),
        enabled=_flag(where, entry, "enabled", True),
        startup_timeout=_seconds(where, entry, "startup_timeout_sec", STARTUP_TIMEOUT),
        tool_timeout=_seconds(where, entry, "tool_timeout_sec", _seconds(where, entry, "tool_timeout",
                                                                          TOOL_TIMEOUT)),
        enabled_tools=_texts(where, entry, "enabled_tools"),
        disabled_tools=_texts(where, entry, "disabled_tools") or [],
        tools=_overrides(where, entry.get("tools", {})),
    )
    return server


def _text(where: str, entry: dict[str, Any], key: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise UsageError(f"{where}: {key} must be a string")
    return value


def _texts(where: str, entry: dict[str, Any], key: str) -> list[str] | None:
    value = entry.get(key)
    if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        raise UsageError(f"{where}: {key} must be a list of strings")
    return value


def _table(where: str, entry: dict[str, Any], key: str) -> dict[str, str]:
    value = entry.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise UsageError(f"{where}: {key} must be a table of strings, e.g. {key} = {{ NAME = \"value\" }}")
    return dict(value)


def _flag(where: str, entry: dict[str, Any], key: str, default: bool) -> bool:
    value = entry.get(key, default)
    if not isinstance(value, bool):
        raise UsageError(f"{where}: {key} must be true or false")
    return value


def _seconds(where: str, entry: dict[str, Any], key: str, default: float) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e6:
        raise UsageError(f"{where}: {key} must be a positive number of seconds")
    return float(value)


def _overrides(where: str, tools: Any) -> dict[str, ToolOverride]:
    if not isinstance(tools, dict):
        raise UsageError(f"{where}: tools must be a table of TOOL = {{ read_only = ..., idempotent = ... }}")
    found = {}
    for tool, table in tools.items():
        if not isinstance(table, dict) or set(table) - _TOOL_KEYS:
            raise UsageError(f"{where}: tools.{tool} may set only read_only and idempotent (true or false)")
        found[tool] = ToolOverride(**{key: _flag(f"{where}: tools.{tool}", table, key, False)
                                      for key in table})
    return found


def default_cwd(server: ServerConfig, workspace_root: Path) -> Path:
    """Where a stdio server starts: its ``cwd`` (relative to the workspace root), else the root."""
    if not server.cwd:
        return workspace_root
    return (workspace_root / os.path.expanduser(server.cwd)).resolve()
