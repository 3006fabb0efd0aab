"""``new`` and ``resume``: drive a session."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from agentcli.cli.lean import LeanCommand
from agentcli.cli.options import DebugOpt, JsonOpt, SessionsDirOpt, WorkspaceOpt, make_context

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

LocalOpt = Annotated[
    bool,
    typer.Option("--local", help="Use the local server found on 127.0.0.1 (Ollama, LM Studio, llama.cpp)."),
]


def _flags(model: str | None, base_url: str | None, approval: str | None, max_turns: int | None,
           context_window: int | None, scouts: int | None = None, scout_depth: int | None = None,
           scout_model: str | None = None, scout_steps: int | None = None,
           no_compact: bool | None = None, max_cost: float | None = None,
           max_tokens: int | None = None, local: bool = False) -> dict[str, object]:
    return {"model": model, "base_url": base_url, "approval": approval, "max_turns": max_turns,
            "context_window": context_window, "scouts": scouts, "scout_depth": scout_depth,
            "scout_model": scout_model, "scout_steps": scout_steps, "no_compact": no_compact,
            "max_cost": max_cost, "max_tokens": max_tokens, "local": local or None}


def register(app: typer.Typer) -> None:
    """Add the commands that drive the agent to ``app``."""

    @app.command(cls=LeanCommand)
    def new(
        prompt: PromptArg = None,
        print_mode: PrintOpt = False,
        json: JsonOpt = False,
        model: ModelOpt = None,
        base_url: BaseUrlOpt = None,
        approval: ApprovalOpt = None,
        max_turns: MaxTurnsOpt = None,
        context_window: ContextOpt = None,
        scouts: ScoutsOpt = None,
        scout_depth: ScoutDepthOpt = None,
        scout_model: ScoutModelOpt = None,
        scout_steps: ScoutStepsOpt = None,
        no_compact: NoCompactOpt = None,
        max_cost: MaxCostOpt = None,
        max_tokens: MaxTokensOpt = None,
        local: LocalOpt = False,
        workspace: WorkspaceOpt = None,
        sessions_dir: SessionsDirOpt = None,
        debug: DebugOpt = False,
    ) -> int:
        """Start a session: run PROMPT, then (in a terminal) take more prompts."""
        from agentcli.cli.driver import RunOptions
        from agentcli.cli.session_run import start_session

        options = RunOptions(prompt, print_mode, json,
                             _flags(model, base_url, approval, max_turns, context_window, scouts,
                                    scout_depth, scout_model, scout_steps, no_compact, max_cost,
                                    max_tokens, local))
        return start_session(make_context(workspace, sessions_dir), options)

    @app.command(cls=LeanCommand)
    def resume(
        session: MaybeSessionArg = None,
        prompt: PromptArg = None,
        print_mode: PrintOpt = False,
        json: JsonOpt = False,
        model: ModelOpt = None,
        base_url: BaseUrlOpt = None,
        approval: ApprovalOpt = None,
        max_turns: MaxTurnsOpt = None,
        context_window: ContextOpt = None,
        scouts: ScoutsOpt = None,
        scout_depth: ScoutDepthOpt = None,
        scout_model: ScoutModelOpt = None,
        scout_steps: ScoutStepsOpt = None,
        no_compact: NoCompactOpt = None,
        max_cost: MaxCostOpt = None,
        max_tokens: MaxTokensOpt = None,
        local: LocalOpt = False,
        workspace: WorkspaceOpt = None,
        sessions_dir: SessionsDirOpt = None,
        debug: DebugOpt = False,
    ) -> int:
        """Continue a session: finish its interrupted turn, then take PROMPT (or, in a terminal, more).

        Without SESSION, in a terminal: choose one of this workspace's sessions from a list."""
        from agentcli.cli.driver import RunOptions
        from agentcli.cli.session_run import resume_session

        options = RunOptions(prompt, print_mode, json,
                             _flags(model, base_url, approval, max_turns, context_window, scouts,
                                    scout_depth, scout_model, scout_steps, no_compact, max_cost,
                                    max_tokens, local))
        return resume_session(make_context(workspace, sessions_dir), session, options,
                              explicit_workspace=workspace is not None)

