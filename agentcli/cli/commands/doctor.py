"""``doctor``: what agentcli would do here, where each setting came from, and whether it works.

It reports the workspace (and whether it is trusted), the sessions folder (and whether
it is writable), the effective settings with their sources, whether a key is set (never
its value), the shell sandbox (whether one works here, how to get one), the endpoint
probed (``GET /models``, whether the model is listed, whether it accepts tools), the
local servers found and the MCP servers (each started as a session would start it: how
many tools, or why it failed). Exit 0 when nothing is wrong, 2 for a
configuration problem, 3 when the endpoint fails.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, Optional

import typer

from agentcli.agent.model.key import api_key, key_for
from agentcli.cli.options import DebugOpt, JsonOpt, SessionsDirOpt, WorkspaceOpt, make_context
from agentcli.errors import UsageError

ModelOpt = Annotated[Optional[str], typer.Option("--model", help="Check this model.")]  # noqa: UP045
BaseUrlOpt = Annotated[Optional[str], typer.Option("--base-url", help="Check this endpoint.")]  # noqa: UP045
LocalOpt = Annotated[bool, typer.Option("--local", help="Check the local server --local would use.")]
NoCallOpt = Annotated[
    bool, typer.Option("--no-call", help="Do not send the one tiny request that checks tools.")
]
SHOWN = ("model", "base_url", "approval", "max_turns", "context_window", "shell_timeout", "max_attempts",
         "retry_max_wait", "stream", "max_file_bytes", "max_cost", "max_tokens", "prices", "shell_env",
         "sandbox", "network")


def doctor(json_out: JsonOpt = False, model: ModelOpt = None, base_url: BaseUrlOpt = None,
           local: LocalOpt = False, no_call: NoCallOpt = False, workspace: WorkspaceOpt = None,
           sessions_dir: SessionsDirOpt = None, debug: DebugOpt = False) -> int:
    """Check the setup: settings and their sources, the key, the endpoint, local servers."""
    report = examine(make_context(workspace, sessions_dir), {"model": model, "base_url": base_url},
                     local=local, call=not no_call)
    if json_out:
        import json

        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    else:
        from agentcli.cli.render.text import clean

        sys.stdout.write(clean(as_text(report)))  # model ids, server names and errors come from servers
    return report["exit_code"]


def examine(ctx: Any, flags: dict[str, Any], *, local: bool, call: bool) -> dict[str, Any]:
    """Everything ``doctor`` reports, as JSON-able data."""
    from agentcli.agent.config import is_trusted, user_config_path
    from agentcli.agent.model.local import find_local_servers

    problems: list[str] = []
    report: dict[str, Any] = {
        "workspace": {"root": str(ctx.workspace_root), "source": ctx.root_source,
                      "trusted": is_trusted(ctx.workspace_root)},
        "sessions": {"path": str(ctx.sessions.path), "source": ctx.sessions_source,
                     **_writable(ctx.sessions.path)},
        "config_files": {"user": _file(user_config_path()),
                         "workspace": _file(ctx.workspace_root / "agentcli.toml")},
        "key": {"variable": "OPENAI_API_KEY", "set": bool(api_key())},
        "local_servers": [{"name": s.name, "base_url": s.base_url, "models": s.models}
                          for s in find_local_servers()],
    }
    if not report["sessions"]["writable"]:
        problems.append(f"the sessions folder {ctx.sessions.path} is not writable")
    settings = _settings(ctx, flags, local, problems, report)
    if "settings" in report:
        report["sandbox"] = _sandbox(report["settings"], problems)
    if settings is not None:
        report["endpoint"] = _probe(settings, call, problems)
    report["mcp_servers"] = _mcp(ctx.workspace_root, problems)
    report["problems"] = problems
    endpoint_failed = bool(report.get("endpoint", {}).get("error"))
    report["exit_code"] = 3 if endpoint_failed else (2 if problems else 0)
    return report


def _settings(ctx: Any, flags: dict[str, Any], local: bool, problems: list[str],
              report: dict[str, Any]) -> Any:
    from agentcli.agent.config import resolve_settings
    from agentcli.agent.engine.launch import no_endpoint_message, use_local_server

    try:
        settings = resolve_settings(ctx.workspace_root, {k: v for k, v in flags.items() if v is not None})
        if local:
            use_local_server(settings, model_given=flags.get("model") is not None)
            for note in settings.notes:
                sys.stderr.write(f"agentcli: {note}\n")
    except UsageError as err:
        problems.append(str(err))
        return None
    report["warnings"] = settings.warnings
    report["settings"] = {name: {"value": _shown(name, getattr(settings, name)),
                                 "source": settings.sources.get(name, "default")} for name in SHOWN}
    if not settings.base_url and not report["key"]["set"]:
        problems.append(no_endpoint_message())
        return None
    return settings


def _shown(name: str, value: Any) -> Any:
    from agentcli.agent.model.endpoint import public_url

    if name == "base_url":
        return public_url(value) if value else "https://api.openai.com/v1 (the OpenAI SDK's default)"
    if name == "approval":
        return value or "ask in a terminal; what needs asking is denied in scripted runs"
    return value


def _probe(settings: Any, call: bool, problems: list[str]) -> dict[str, Any]:
    """``GET /models``, the model among them, and (``call``) one request offering a tool."""
    from agentcli.agent.model.client import ModelClient, ModelSettings
    from agentcli.errors import ModelEndpointError

    client = ModelClient(ModelSettings(model=settings.model, base_url=settings.base_url,
                                       api_key=key_for(settings), timeout=10, max_attempts=1))
    found: dict[str, Any] = {"url": client.base_url, "host": client.endpoint_host, "model": settings.model}
    try:
        try:
            models = client.list_models()
        except ModelEndpointError as err:
            found["error"] = str(err).replace(" (agentcli doctor probes it)", "")
            problems.append(found["error"])
            return found
        found["models"] = len(models)
        found["model_listed"] = settings.model in models if models else None
        if models and settings.model not in models:
            some = ", ".join(models[:8]) + (", ..." if len(models) > 8 else "")
            problems.append(f"model {settings.model!r} is not among the {len(models)} models "
                            f"{client.endpoint_host} lists ({some}): pass --model")
        if call and found["model_listed"] is not False:  # a request to a missing model says nothing of tools
            refused = client.accepts_tools()
            found["tools"] = refused is None
            if refused is not None:
                found["tools_error"] = refused
                problems.append(f"a request offering a tool failed: {refused}")
    finally:
        client.close()
    return found


def _sandbox(settings: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """The shell sandbox: the mode asked for, and whether this machine has one."""
    from agentcli.agent.sandbox.platform import platform_backend

    mode, network = settings["sandbox"]["value"], settings["network"]["value"]
    found = platform_backend().detect()
    if mode != "off" and not found.ok:
        problems.append(f"no shell sandbox: {found.refusal()} (until then --approval full-auto refuses to "
                        "start, and ask / auto-edit ask for every command, unsandboxed)")
    return {"mode": mode, "network": network, "available": found.ok, "backend": found.backend,
            "detail": found.detail, "fix": found.fix}


def _mcp(root: Any, problems: list[str]) -> list[dict[str, Any]]:
    """Each declared MCP server: started? how many tools? error? (a failed start is a problem)."""
    from agentcli.cli.commands.mcp import examine

    try:
        states, _trusted = examine(root, None)
    except UsageError as err:
        problems.append(str(err))
        return []
    found = []
    for state in states:
        found.append({"name": state.name, "status": state.status, "tools": len(state.tools),
                      "error": state.error, "source": state.config.source, "target": state.config.target})
        if state.status == "failed":
            problems.append(f"MCP server {state.name} did not start: {state.error}")
    return found


def _writable(folder: Any) -> dict[str, Any]:
    """Whether agentcli can create session files there (the folder, or its nearest parent)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return {"exists": folder.exists(), "writable": os.access(probe, os.W_OK | os.X_OK)}


def _file(path: Any) -> dict[str, Any]:
    return {"path": str(path), "exists": path.is_file()}


def as_text(report: dict[str, Any]) -> str:
    """The report for people: one fact a line."""
    from agentcli.agent.untrusted import TRUST_KEYS

    ws, sessions, key = report["workspace"], report["sessions"], report["key"]
    how = {"-C": "from -C", "git": "the git work tree's root", "cwd": "the current directory"}[ws["source"]]
    lines = [
        f"workspace      {ws['root']} ({how}); "
        + ("trusted" if ws["trusted"] else "not trusted: its agentcli.toml may not set "
           f"{', '.join(TRUST_KEYS)}, nor raise your limits or start MCP servers (agentcli trust allows it)"),
        f"sessions       {sessions['path']} ({sessions['source']}; "
        + ("writable" if sessions["writable"] else "NOT writable") + ")",
    ]
    for which, info in report["config_files"].items():
        lines.append(f"config         {which}: {info['path']}" + ("" if info["exists"] else " (none)"))
    for warning in report.get("warnings", []):
        lines.append(f"warning        {warning}")
    if "settings" in report:
        lines.append("settings")
        for name, entry in report["settings"].items():
            value = "-" if entry["value"] is None else entry["value"]
            lines.append(f"  {name:<16} {value!s:<40} {entry['source']}")
    lines.append(f"key            OPENAI_API_KEY {'is set' if key['set'] else 'is not set'}")
    if "sandbox" in report:
        lines.append(f"sandbox        {_sandbox_text(report['sandbox'])}")
    endpoint = report.get("endpoint")
    if endpoint:
        lines.append(f"endpoint       {endpoint['url']}")
        if endpoint.get("error"):
            lines.append(f"  models       {endpoint['error']}")
        else:
            listed = {True: "listed", False: "NOT listed", None: "not checked (empty list)"}
            lines.append(f"  models       {endpoint['models']} listed; {endpoint['model']!r} "
                         f"{listed[endpoint['model_listed']]}")
            if "tools" in endpoint:
                lines.append("  tools        " + ("accepted" if endpoint["tools"] else
                                                  f"refused: {endpoint['tools_error']}"))
    for server in report["local_servers"]:
        models = ", ".join(server["models"][:5]) or "no models"
        lines.append(f"local server   {server['name']} at {server['base_url']} ({models}): "
                     "use it with --local")
    if not report["local_servers"]:
        lines.append("local server   none on ports 11434 (Ollama), 1234 (LM Studio), 8080 (llama.cpp)")
    for server in report.get("mcp_servers", []):
        state = f"{server['tools']} tools" if server["status"] == "running" else server["status"]
        why = f": {server['error']}" if server["error"] else ""
        lines.append(f"mcp server     {server['name']} ({server['target']}): {state}{why}")
    lines.append("")
    if report["problems"]:
        lines += [f"problem: {p}" for p in report["problems"]]
    else:
        lines.append("no problems found")
    return "\n".join(lines) + "\n"


def _sandbox_text(sandbox: dict[str, Any]) -> str:
    if sandbox["mode"] == "off":
        return "OFF (--sandbox off): shell commands run unconfined, with everything you can touch"
    network = "network on" if sandbox["network"] else "no network"
    if sandbox["available"]:
        return f"{sandbox['mode']}, {network}: {sandbox['backend']} ({sandbox['detail']})"
    return f"NOT AVAILABLE: {sandbox['detail']}; {sandbox['fix']}"


def register(app: typer.Typer) -> None:
    """Add ``doctor`` to ``app``."""
    app.command()(doctor)
