"""The ``agentcli`` command: the typer app and the one error boundary."""

from __future__ import annotations

import sys

import typer

from agentcli.cli.lean import LeanGroup
from agentcli.errors import AgentcliError

app = typer.Typer(
    name="agentcli",
    cls=LeanGroup,
    help="A coding agent whose every session is a durable SQLite file: resume, rollback, audit.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold the API key
    rich_markup_mode=None,
)


def _register() -> None:
    from agentcli.cli.commands import doctor, inspect, move, rollback, run, trust

    run.register(app)
    rollback.register(app)
    inspect.register(app)
    trust.register(app)
    move.register(app)
    doctor.register(app)


_register()


def _error(message: str) -> None:
    sys.stderr.write(f"agentcli: {message}\n")


def _disk_full(err: BaseException) -> bool:
    """True for "no space left" from the OS or "database or disk is full" from SQLite."""
    import errno
    import sqlite3

    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return True
    return isinstance(err, sqlite3.OperationalError) and "disk is full" in str(err)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; turn every failure into one line on stderr and the spec's exit code."""
    from typer._click import exceptions as click  # typer vendors click since 0.29

    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = app(args=args, prog_name="agentcli", standalone_mode=False)
    except click.NoArgsIsHelpError as err:
        if err.ctx is not None:
            print(err.ctx.get_help())
        sys.exit(0)
    except click.UsageError as err:
        _error(err.format_message())
        sys.exit(2)
    except typer.Abort:
        _error("interrupted")
        sys.exit(130)
    except KeyboardInterrupt:
        _error("interrupted")
        sys.exit(130)
    except AgentcliError as err:
        if debug:
            raise
        _error(str(err))
        sys.exit(err.exit_code)
    except Exception as err:  # the one catch-all, at the boundary
        if debug:
            raise
        if _disk_full(err):
            _error("the disk is full: free some space, then run the command again "
                   "(agentcli resume continues a session; nothing it had recorded is lost)")
            sys.exit(1)
        _error(f"internal error: {err.__class__.__name__}: {err} (run again with --debug for details)")
        sys.exit(1)
    sys.exit(result if isinstance(result, int) else 0)
