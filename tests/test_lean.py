"""``cli/lean.py`` against the installed typer: the internals it patches, and equal results.

lean.py replaces typer's pydantic coercion of plain ``str``/``Path``/``bool`` parameters.
A typer release that moves those internals must fail here, by name, rather than make
``agentcli`` slow (pydantic imported again) or wrong (a check skipped).

Then the rest of a lean start (issue 15): what a scripted run never imports, the app of
two commands ``new`` and ``resume`` are parsed by, and the garbage collector held off
while an agent starts.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import pytest
import typer
import typer.core
import typer.models
from typer.testing import CliRunner

from agentcli.cli.lean import CONSTRAINTS, LeanCommand, LeanGroup, PlainValue, TyperValue

BROKEN = f"agentcli/cli/lean.py relies on typer internals that typer {typer.__version__} changed: "


class Color(str, Enum):
    """A parameter type lean.py must leave to typer."""

    red = "red"


def build(cls: type[typer.core.TyperCommand], seen: dict[str, Any]) -> typer.Typer:
    """An app of one command with every kind of parameter agentcli uses, recording its values."""
    app = typer.Typer(add_completion=False)

    @app.command("go", cls=cls)
    def go(name: str,
           path: Optional[Path] = None,  # noqa: UP045 - typer reads the annotation at run time
           text: Optional[str] = None,  # noqa: UP045
           flag: Annotated[bool, typer.Option("--flag/--no-flag", envvar="FLAG")] = False,
           where: Annotated[Path, typer.Option(envvar="WHERE")] = Path("."),
           label: Annotated[str, typer.Option(envvar="LABEL")] = "x",
           count: Annotated[Optional[int], typer.Option(envvar="COUNT")] = None,  # noqa: UP045
           ratio: float = 0.5,
           color: Optional[Color] = None) -> None:  # noqa: UP045
        seen.update(name=name, path=path, text=text, flag=flag, where=where, label=label, count=count,
                    ratio=ratio, color=color)

    @app.command("other", cls=cls)
    def other() -> None:
        """A second command, so that ``go`` stays a subcommand."""

    return app


def test_the_typer_internals_lean_patches_are_there() -> None:
    parameter = getattr(typer.core, "_TyperParameter", None)
    assert parameter is not None, BROKEN + "no typer.core._TyperParameter"
    assert callable(getattr(parameter, "get_runtime_param", None)), BROKEN + "no get_runtime_param"
    assert callable(getattr(parameter, "process_value", None)), BROKEN + "no process_value"
    assert callable(getattr(typer.core.TyperCommand, "get_help_option", None)), BROKEN + "no get_help_option"
    info = typer.models.OptionInfo()
    names = (*CONSTRAINTS, "file_okay", "dir_okay", "readable")
    missing = [name for name in names if not hasattr(info, name)]
    assert not missing, BROKEN + f"ParameterInfo has no {missing} (a constraint lean.py would skip)"
    command = typer.main.get_command(build(LeanCommand, {})).commands["go"]  # type: ignore[attr-defined]
    for param in command.params:
        descriptor = getattr(param, "type_descriptor", None)
        assert descriptor is not None, BROKEN + f"{param.name} has no type_descriptor"
        for name in ("annotation", "file_annotation", "parameter_info"):
            assert hasattr(descriptor, name), BROKEN + f"type_descriptor has no {name}"


def test_plain_parameters_and_help_are_lean_and_others_are_not() -> None:
    app = typer.Typer(add_completion=False)

    @app.command("go", cls=LeanCommand)
    def go(name: str, count: int = 1, color: Color = Color.red,
           real: Annotated[Path, typer.Option(exists=True)] = Path("."),
           files: Annotated[Path, typer.Option(dir_okay=False)] = Path("f"),
           path: Optional[Path] = None,  # noqa: UP045
           flag: bool = False) -> None:
        """Mixed parameters."""

    @app.command("other", cls=LeanCommand)
    def other() -> None:
        """A second command."""

    command = typer.main.get_command(app).commands["go"]  # type: ignore[attr-defined]
    given = {p.name: getattr(p, "get_runtime_param", type)() for p in command.params}
    lean = {name for name, value in given.items() if isinstance(value, PlainValue)}
    assert lean == {"name", "path", "flag"}, BROKEN + f"lean parameters are {sorted(lean)}"
    deferred = {name for name, value in given.items() if isinstance(value, TyperValue)}
    assert deferred == {"count", "color", "real", "files"}, BROKEN + f"deferred: {sorted(deferred)}"
    with typer.Context(command) as ctx:
        help_option = command.get_help_option(ctx)
    help_value = getattr(help_option, "get_runtime_param", type)()
    assert isinstance(help_value, PlainValue), BROKEN + "--help is not lean"


# (argv, environment): options given, absent, empty, and flags read from text
RUNS = [
    (["go", "n"], {}),
    (["go", "n", "--path", "a/b", "--text", "", "--flag", "--where", "w", "--label", "l"], {}),
    (["go", "n", "--path", "", "--no-flag"], {}),
    (["go", "n"], {"WHERE": "/tmp", "LABEL": ""}),
    *[(["go", "n", "--count", text], {}) for text in ("3", " 4 ", "+5", "1_000", "3.0", "3.5", "x", "")],
    (["go", "n", "--count", "-1"], {}),
    (["go", "n"], {"COUNT": "7"}),
    (["go", "n"], {"COUNT": "seven"}),
    (["go", "n", "--ratio", "1.5", "--color", "red"], {}),
    (["go", "n", "--ratio", "half"], {}),
    (["go", "n", "--color", "blue"], {}),
    *[(["go", "n"], {"FLAG": word}) for word in ("y", "T", " YES ", "on", "1", "off", "N", "0", "", "maybe")],
    (["go", "--help"], {}),
    (["--help"], {}),
    (["go"], {}),
]


@pytest.mark.parametrize(("argv", "env"), RUNS)
def test_lean_values_are_typers(argv: list[str], env: dict[str, str]) -> None:
    results = []
    for cls in (LeanCommand, typer.core.TyperCommand):
        seen: dict[str, Any] = {}
        result = CliRunner().invoke(build(cls, seen), argv, env=env)
        results.append((result.exit_code, {key: (type(value), value) for key, value in seen.items()}))
    assert results[0] == results[1], f"lean.py parses {argv} {env} unlike typer {typer.__version__}"


def test_lean_commands_never_import_pydantic(tmp_path: Path) -> None:
    """If typer stops coercing through ``get_runtime_param``, pydantic comes back."""
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from typing import Optional
        import typer
        from agentcli.cli.lean import LeanCommand, LeanGroup
        app = typer.Typer(cls=LeanGroup, add_completion=False)
        @app.command(cls=LeanCommand)
        def go(name: str, path: Optional[Path] = None, where: Path = Path("."), flag: bool = False,
               count: Optional[int] = None) -> None:
            print(repr((name, path, where, flag, count)))
        @app.command(cls=LeanCommand)
        def other() -> None: ...
        for args in (["go", "n", "--path", {str(tmp_path)!r}, "--flag"], ["go", "n"], ["go", "--help"]):
            try:
                app(args=args, standalone_mode=False)
            except SystemExit:
                pass
        print("pydantic" in sys.modules)
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.splitlines()[0] == repr(("n", tmp_path, Path("."), True, None))
    assert run.stdout.splitlines()[-1] == "False", \
        BROKEN + "pydantic is imported: typer no longer coerces through get_runtime_param"


def test_the_app_group_is_lean() -> None:
    from agentcli.cli.app import app

    assert isinstance(typer.main.get_command(app), LeanGroup)


START_PROBE = """
import sys
from agentcli.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    print(f"exit {done.code}", file=sys.stderr)
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""

# What a scripted run that creates (or resumes) a session never needs, though each once cost
# 10-60 ms of its start (issue 15): sqlite_utils (a new file comes from a schema snapshot; one
# at the current schema needs no migration), rich (progress on a pipe is plain lines), regex
# (only a search or a glob compiles one), pathspec (only an ignore file is parsed by it:
# this workspace has none) and typer's pydantic coercion (only for a number option given).
# Nor, without MCP servers configured (issue 23), the MCP SDK, jsonschema, the parts of
# anyio only the SDK uses (the openai SDK imports anyio's core) or agentcli's MCP hub.
NOT_ON_THE_START_PATH = ("sqlite_utils", "rich", "regex", "pathspec", "typer._adapters", "mcp", "mcp_types",
                         "jsonschema", "anyio.streams.memory", "anyio.abc._subprocesses",
                         "agentcli.agent.mcp.hub", "agentcli.agent.mcp.tool")


def test_a_scripted_start_imports_nothing_it_does_not_use(openai_server, tmp_path: Path, env) -> None:
    from openai_answers import text_answer

    openai_server.answer_with(lambda body: text_answer("done"))
    workspace = tmp_path / "ws"
    workspace.mkdir()
    for args in (["new", "go"], ["resume", "last", "again"]):
        run = subprocess.run(
            [sys.executable, "-c", START_PROBE, *args, "-p", "--base-url", openai_server.base_url,
             "--approval", "full-auto"],
            cwd=workspace, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        *output, code, modules = run.stderr.splitlines()
        assert (code, run.stdout) == ("exit 0", "done\n"), "\n".join(output)
        names = modules.split()
        loaded = [unwanted for unwanted in NOT_ON_THE_START_PATH
                  if any(name == unwanted or name.startswith(unwanted + ".") for name in names)]
        assert loaded == [], f"agentcli {args[0]} -p imports {loaded}: keep them off the start path"


@pytest.mark.parametrize("argv", [
    ["new", "--help"], ["resume", "-h"], ["new", "--no-such-option"], ["new", "hi", "--max-turns", "x"],
    ["resume", "a", "b", "c"], ["new", "--scouts"],
])
def test_the_agent_commands_parse_alone_as_in_the_whole_app(argv: list[str]) -> None:
    """``new`` and ``resume`` are parsed by an app of those two alone (typer builds every
    command of the app it runs): same help, same errors."""
    from agentcli.cli.app import make_app

    results = []
    for app in (make_app(), make_app(agent_only=True)):
        result = CliRunner().invoke(app, argv, prog_name="agentcli")
        results.append((result.exit_code, result.output))
    assert results[0] == results[1]
    assert results[0][0] in (0, 2) and results[0][1]  # help, or a usage error: nothing ran


def test_started_turns_a_held_collector_back_on_and_leaves_a_running_one_alone() -> None:
    import gc

    from agentcli.cli import startup

    frozen = gc.get_freeze_count()
    startup.started()  # nobody held it (tests, embedding): nothing happens
    assert gc.isenabled() and gc.get_freeze_count() == frozen
    startup.hold_collector()
    try:
        assert not gc.isenabled()
        startup.started()
        assert gc.isenabled() and gc.get_freeze_count() > frozen
    finally:
        gc.enable()
        gc.unfreeze()
