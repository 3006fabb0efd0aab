"""``new`` and ``resume``: drive a session."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from agentcli.cli.lean import LeanCommand
from agentcli.cli.options import DebugOpt, JsonOpt, SessionsDirOpt, WorkspaceOpt, make_context

if TYPE_CHECKING:
    from agentcli.cli.driver import RunOptions

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
    ("mcp_config", McpConfigOpt, None),
    ("local", LocalOpt, False), ("workspace", WorkspaceOpt, None), ("sessions_dir", SessionsDirOpt, None),
    ("debug", DebugOpt, False),
)
_FLAGS = ("model", "base_url", "approval", "max_turns", "context_window", "scouts", "scout_depth",
          "scout_model", "scout_steps", "no_compact", "max_cost", "max_tokens", "mcp_config")


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
    from agentcli.cli.driver import RunOptions

    flags: dict[str, object] = {name: given[name] for name in _FLAGS}
    flags["local"] = given["local"] or None
    return RunOptions(given["prompt"], given["print_mode"], given["json"], flags)


def register(app: typer.Typer) -> None:
    """Add the commands that drive the agent to ``app``."""

    @app.command(cls=LeanCommand)
    @_run_command(("prompt", PromptArg, None))
    def new(**given: Any) -> int:
        """Start a session: run PROMPT, then (in a terminal) take more prompts."""
        from agentcli.cli.session_run import start_session

        return start_session(make_context(given["workspace"], given["sessions_dir"]), _run_options(given))

    @app.command(cls=LeanCommand)
    @_run_command(("session", MaybeSessionArg, None), ("prompt", PromptArg, None))
    def resume(**given: Any) -> int:
        """Continue a session: finish its interrupted turn, then take PROMPT (or, in a terminal, more).

        Without SESSION, in a terminal: choose one of this workspace's sessions from a list."""
        from agentcli.cli.session_run import resume_session

        return resume_session(make_context(given["workspace"], given["sessions_dir"]), given["session"],
                              _run_options(given), explicit_workspace=given["workspace"] is not None)
