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
COMMAND_NAMES = ("new", "resume", "rollback", "list", "show", "log", "checkpoints", "diff", "export", "rm",
                 "compact", "fork", "prune", "doctor", "move-sessions", "trust", "mcp", "acp", "batch",
                 "version")
"""Every command of the app (a test keeps it equal to what the app registers): a first word
that is one of them is that command; any other starts a session with the words as its prompt."""
NEW_FLAGS = ("-p", "--print", "--json", "--debug", "--local", "--no-compact", "--compact", "--network",
             "--no-network", "-h", "--help")
"""The options of ``new`` that take no value (every other one takes the word after it)."""


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


def version() -> None:
    """Print the version (as --version does)."""
    _version(True)


def make_app(*, agent_only: bool = False) -> typer.Typer:
    """The ``agentcli`` app: every command, or (``agent_only``) only ``new`` and ``resume``.

    Typer builds the parameters of every command of an app each time it runs one (~13 ms
    for all of ours); a command that starts an agent is parsed by an app of those two alone.
    """
    made = typer.Typer(
        name="agentcli",
        cls=AppGroup,
        help="A coding agent whose every session is a durable SQLite file: resume, rollback, audit. "
             "Run agentcli alone in a terminal to start a session; agentcli \"TASK\" starts one with "
             "that prompt (piped: echo TASK | agentcli runs it to the end).",
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
        from agentcli.cli.lean import LeanCommand

        made.command("version", cls=LeanCommand)(version)
        from agentcli.cli.commands import (
            acp,
            batch,
            compact,
            doctor,
            fork,
            inspect,
            mcp,
            move,
            prune,
            rollback,
            trust,
        )

        for module in (compact, rollback, inspect, fork, prune, trust, move, doctor, mcp, acp, batch):
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
    try:
        args = session_args(args, stdin_tty=sys.stdin.isatty(), stdout_tty=sys.stdout.isatty())
    except AgentcliError as err:
        _error(str(err))
        args, code = [], err.exit_code
    else:
        if process and args and args[0] in AGENT_COMMANDS:
            from agentcli.cli.startup import hold_collector, warm_up

            warm_up("openai")
            hold_collector()  # until the agent is built (the launch calls startup.started)
        code = _run(args)
    if process:
        _leave(code)
    sys.exit(code)


def session_args(args: list[str], *, stdin_tty: bool, stdout_tty: bool) -> list[str]:
    """The command line as the app parses it: a first word naming a command is that
    command; anything else starts a session, as ``agentcli new`` with the words as its
    prompt (``agentcli fix the bug --model X`` is ``agentcli new "fix the bug" --model X``).

    ``agentcli`` alone is ``agentcli new`` in a terminal, and ``echo task | agentcli`` a
    scripted ``new`` (the piped text is the prompt); its output piped from a terminal it
    prints the help. ``agentcli help`` is ``--help``.

    Example:
        >>> session_args(["fix", "the", "bug", "-p"], stdin_tty=True, stdout_tty=True)
        ['new', 'fix the bug', '-p']
    """
    if not args:
        return ["new"] if not stdin_tty or stdout_tty else []
    first = args[0]
    if first in COMMAND_NAMES or first in GROUP_OPTIONS:
        return args
    if args == ["help"]:
        return ["--help"]
    words: list[str] = []
    options: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            words += args[index + 1:]
            break
        if arg.startswith("-") and arg != "-":
            options.append(arg)
            if "=" not in arg and arg not in NEW_FLAGS and index + 1 < len(args):
                index += 1
                options.append(args[index])
        else:
            words.append(arg)
        index += 1
    if len(words) == 1 and " " not in words[0]:
        _refuse_a_typo(words[0])
    return ["new", *([" ".join(words)] if words else []), *options]


def _refuse_a_typo(word: str) -> None:
    """A lone word that is nearly a command name (``agentcli lsit``) is a typo, not a task."""
    import difflib

    close = difflib.get_close_matches(word, COMMAND_NAMES, n=1, cutoff=0.75)
    if close:
        from agentcli.errors import UsageError

        raise UsageError(f"'{word}' is not a command — did you mean agentcli {close[0]}? "
                         f"(to start a session with that prompt: agentcli new {word})")


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
