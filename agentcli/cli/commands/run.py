"""``new`` and ``resume``: drive a session."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from agentcli.cli.lean import LeanCommand
from agentcli.cli.options import DebugOpt, JsonOpt, SessionsDirOpt, WorkspaceOpt, make_context

if TYPE_CHECKING:
    from agentcli.cli.options import CliContext, RunOptions

MaybeSessionArg = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at run time
    typer.Argument(help="Session id, a unique prefix of 4+ characters, 'last', or a .sqlite path "
                        "(none: pick one from a list, in a terminal)."),
]

PromptArg = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at run time
    typer.Argument(help="The prompt; '-' reads it from stdin."),
]
PrintOpt = Annotated[
    bool, typer.Option("--print", "-p", help="Run to completion without asking; answer on stdout.")
]
ModelOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--model", help="Model name (default: config, else gpt-4o-mini)."),
]
BaseUrlOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--base-url", help="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1."),
]
ApprovalOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--approval", help="ask, auto-edit, full-auto or read-only (default: ask)."),
]
MaxTurnsOpt = Annotated[
    Optional[int], typer.Option("--max-turns", help="Most model calls for one prompt (default 100).")  # noqa: UP045
]
ContextOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--context-window",
                 help="Tokens the model accepts (default: the model's, from the config or agentcli's "
                      "table, else 128000); older turns are summarised to fit."),
]

NoCompactOpt = Annotated[
    Optional[bool],  # noqa: UP045
    typer.Option("--no-compact/--compact",
                 help="Never summarise older turns: they leave the model's view (you are told which). "
                      "Remembered by the session; --compact turns summaries back on."),
]

ScoutsOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--scouts", help="Scouts running at once; more tasks queue (default 8)."),
]
ScoutDepthOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--scout-depth", help="Scout nesting: 1, scouts send none (default); 0, no scouts."),
]
ScoutModelOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--scout-model", help="Model for scouts (default: the --model)."),
]
ScoutStepsOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--scout-steps", help="Most model calls of one scout (default 20)."),
]

MaxCostOpt = Annotated[
    Optional[float],  # noqa: UP045
    typer.Option("--max-cost", help="Dollars this run may spend on the model, then it stops (resumable)."),
]
MaxTokensOpt = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--max-tokens", help="Tokens this run may spend, then it stops (resumable)."),
]

SandboxOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--sandbox", help="What shell commands may touch: workspace-write (default: the workspace "
                                   "and a private /tmp), read-only (only that /tmp) or off (no sandbox)."),
]
NetworkOpt = Annotated[
    Optional[bool],  # noqa: UP045
    typer.Option("--network/--no-network",
                 help="Let sandboxed shell commands use the network (default: no network). Remembered."),
]
QueuedOpt = Annotated[
    str,
    typer.Option("--queued", metavar="skip|run",
                 help="Prompts typed ahead at a terminal and still queued: a scripted resume leaves them "
                      "queued and lists them (skip, the default), or runs them first (run)."),
]
McpConfigOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--mcp-config", help="A file of MCP servers to start too (.json as .mcp.json, or .toml "
                                      "with [mcp_servers.NAME] tables); give it again to resume."),
]

LocalOpt = Annotated[
    bool,
    typer.Option("--local", help="Use the local server found on 127.0.0.1 (Ollama, LM Studio, llama.cpp)."),
]


# The options new and resume share, in the order --help lists them: (name, type, default).
_RUN_OPTIONS: tuple[tuple[str, object, object], ...] = (
    ("print_mode", PrintOpt, False), ("json", JsonOpt, False), ("model", ModelOpt, None),
    ("base_url", BaseUrlOpt, None), ("approval", ApprovalOpt, None), ("max_turns", MaxTurnsOpt, None),
    ("context_window", ContextOpt, None), ("scouts", ScoutsOpt, None), ("scout_depth", ScoutDepthOpt, None),
    ("scout_model", ScoutModelOpt, None), ("scout_steps", ScoutStepsOpt, None),
    ("no_compact", NoCompactOpt, None), ("max_cost", MaxCostOpt, None), ("max_tokens", MaxTokensOpt, None),
    ("sandbox", SandboxOpt, None), ("network", NetworkOpt, None), ("mcp_config", McpConfigOpt, None),
    ("local", LocalOpt, False), ("workspace", WorkspaceOpt, None), ("sessions_dir", SessionsDirOpt, None),
    ("debug", DebugOpt, False),
)
_FLAGS = ("model", "base_url", "approval", "max_turns", "context_window", "scouts", "scout_depth",
          "scout_model", "scout_steps", "no_compact", "max_cost", "max_tokens", "sandbox", "network",
          "mcp_config")


def _run_command(*leading: tuple[str, object, object]) -> Callable[[Callable[..., int]], Callable[..., int]]:
    """Declare a command taking ``leading`` parameters and then the shared run options.

    typer reads a command's parameters from its signature, so the two commands get one
    list instead of two copies: the function takes them as keyword arguments.
    """
    def declare(func: Callable[..., int]) -> Callable[..., int]:
        keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
        func.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(name, keyword, default=default, annotation=annotation)
             for name, annotation, default in (*leading, *_RUN_OPTIONS)], return_annotation=int)
        return func
    return declare


def _run_options(given: dict[str, Any]) -> RunOptions:
    """The command line's prompt, output mode and settings flags (None: not given)."""
    from agentcli.cli.options import RunOptions, require_utf8

    labels = {"prompt": "the prompt argument", "session": "SESSION"}
    for name in ("prompt", "session", *_FLAGS):  # each may end up in the session file
        if isinstance(given.get(name), str):
            require_utf8(given[name], labels.get(name, f"--{name.replace('_', '-')}"))
    flags: dict[str, object] = {name: given[name] for name in _FLAGS}
    flags["local"] = given["local"] or None
    return RunOptions(given["prompt"], given["print_mode"], given["json"], flags)


def _context(given: dict[str, Any]) -> CliContext:
    """Where the run works; its root must be UTF-8 text (every session records it)."""
    from agentcli.cli.options import require_utf8

    ctx = make_context(given["workspace"], given["sessions_dir"])
    require_utf8(str(ctx.workspace_root), f"the workspace path {os.fsencode(ctx.workspace_root)!r}",
                 "rename the folder, or pass -C to work in another one")
    return ctx


def register(app: typer.Typer) -> None:
    """Add the commands that drive the agent to ``app``."""

    @app.command(cls=LeanCommand)
    @_run_command(("prompt", PromptArg, None))
    def new(**given: Any) -> int:
        """Start a session: run PROMPT, then (in a terminal) take more prompts."""
        from agentcli.cli.launch import start_session

        return start_session(_context(given), _run_options(given))

    @app.command(cls=LeanCommand)
    @_run_command(("session", MaybeSessionArg, None), ("prompt", PromptArg, None),
                  ("queued", QueuedOpt, "skip"))
    def resume(**given: Any) -> int:
        """Continue a session: finish its interrupted turn, then take PROMPT (or, in a terminal, more).

        Without SESSION, in a terminal: choose one of this workspace's sessions from a list."""
        from agentcli.cli.launch import resume_session
        from agentcli.cli.queued import QUEUED_CHOICES
        from agentcli.errors import UsageError

        if given["queued"] not in QUEUED_CHOICES:
            raise UsageError(f"--queued takes skip or run, not '{given['queued']}'")
        options = _run_options(given)
        options.queued = given["queued"]
        return resume_session(_context(given), given["session"], options,
                              explicit_workspace=given["workspace"] is not None)
