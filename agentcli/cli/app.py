"""The ``agentcli`` command: the typer app and the one error boundary."""

from __future__ import annotations

import sys

import typer

from agentcli.cli.lean import LeanGroup, make_lean
from agentcli.errors import AgentcliError


class AppGroup(LeanGroup):
    """The app's group: typer adds the completion options after the group is built, so
    they are made lean when the arguments are parsed (else pydantic is imported for them)."""

    def parse_args(self, ctx, args):  # noqa: ANN001, ANN201 - click's signature
        for param in self.params:
            make_lean(param)
        return super().parse_args(ctx, args)


GROUP_OPTIONS = ("-V", "--version", "-h", "--help", "--install-completion", "--show-completion")
AGENT_COMMANDS = ("new", "resume")


def _version(value: bool) -> None:
    if value:
        from agentcli import __version__

        print(f"agentcli {__version__}")
        raise typer.Exit()


def _main(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """A coding agent whose every session is a durable SQLite file: resume, rollback, audit.

    Run it alone in a terminal to start a session."""


def make_app(*, agent_only: bool = False) -> typer.Typer:
    """The ``agentcli`` app: every command, or (``agent_only``) only ``new`` and ``resume``.

    Typer builds the parameters of every command of an app each time it runs one (~13 ms
    for all of ours); a command that starts an agent is parsed by an app of those two alone.
    """
    made = typer.Typer(
        name="agentcli",
        cls=AppGroup,
        help="A coding agent whose every session is a durable SQLite file: resume, rollback, audit. "
             "Run agentcli alone in a terminal to start a session.",
        no_args_is_help=True,
        add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
        pretty_exceptions_show_locals=False,  # locals may hold the API key
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    made.callback()(_main)
    from agentcli.cli.commands import run

    run.register(made)
    if not agent_only:
        from agentcli.cli.commands import acp, batch, compact, doctor, inspect, mcp, move, rollback, trust

        for module in (compact, rollback, inspect, trust, move, doctor, mcp, acp, batch):
            module.register(made)
    return made


app = make_app()


def _error(message: str) -> None:
    from agentcli.cli.render.text import clean  # a message may quote a file, a server or a command

    sys.stderr.write(f"agentcli: {clean(message)}\n")


def _disk_full(err: BaseException) -> bool:
    """True for "no space left" from the OS or "database or disk is full" from SQLite."""
    import errno
    import sqlite3

    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return True
    return isinstance(err, sqlite3.OperationalError) and "disk is full" in str(err)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn every failure into one line on stderr and the spec's exit code.

    Called with ``argv`` None it is the real process: it first takes the API key out of its
    own environment (``agent/model/key.py``); a command that will talk to a model
    starts importing the ``openai`` SDK on a thread at once (most of the start-up time) and
    holds the garbage collector off until the agent is built (``cli/startup.py``); the
    process leaves with ``os._exit`` once its output is flushed: every step is already
    committed, and the interpreter's teardown would only cost time.
    """
    args = sys.argv[1:] if argv is None else argv
    process = argv is None
    if process:
        from agentcli.agent.model.key import take_key

        take_key()  # before anything can start a child: the key leaves the environment agentcli shows
    if not args and sys.stdin.isatty() and sys.stdout.isatty():
        args = ["new"]  # `agentcli` alone starts a session, as its peers do
    elif args and args[0].startswith("-") and args[0] not in GROUP_OPTIONS:
        args = ["new", *args]  # `agentcli --model X` too
    if process and args and args[0] in AGENT_COMMANDS:
        from agentcli.cli.startup import hold_collector, warm_up

        warm_up("openai")
        hold_collector()  # until the agent is built (the launch calls startup.started)
    code = _run(args)
    if process:
        _leave(code)
    sys.exit(code)


def _run(args: list[str]) -> int:
    from typer._click import exceptions as click  # typer vendors click since 0.29

    debug = "--debug" in args
    try:
        parser = make_app(agent_only=True) if args and args[0] in AGENT_COMMANDS else app
        result = parser(args=args, prog_name="agentcli", standalone_mode=False)
    except click.NoArgsIsHelpError as err:
        if err.ctx is not None:
            print(err.ctx.get_help())
        return 0
    except click.UsageError as err:
        _error(err.format_message())
        return 2
    except (typer.Abort, KeyboardInterrupt):
        _error("interrupted")
        return 130
    except AgentcliError as err:
        if debug:
            raise
        _error(str(err))
        return err.exit_code
    except Exception as err:  # the one catch-all, at the boundary
        if debug:
            raise
        if _disk_full(err):
            _error("the disk is full: free some space, then run the command again "
                   "(agentcli resume continues a session; nothing it had recorded is lost)")
            return 1
        _error(f"internal error: {err.__class__.__name__}: {err} (run again with --debug for details)")
        return 1
    return result if isinstance(result, int) else 0


def _leave(code: int) -> None:
    """Flush what was written and end the process at once (no interpreter teardown)."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can reach it
            pass
    os._exit(code)
