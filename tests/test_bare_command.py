"""``agentcli "task"``, ``agentcli fix the bug`` and ``echo task | agentcli`` start a session
like ``agentcli new``; command names still win; ``version`` and ``--version`` agree (issue 24)."""

from __future__ import annotations

import json

import pytest
import typer
from agent_harness import agentcli, rows, sessions_folder
from openai_answers import text_answer

from agentcli.cli.app import COMMAND_NAMES, make_app, session_args


def _prompts(workspace) -> list[str]:
    db = next(sessions_folder(workspace).glob("*.sqlite"))
    return [r["text"] for r in rows(db, "SELECT text FROM prompts ORDER BY id")]


def test_a_bare_quoted_task_runs_like_new(openai_server, workspace, env):
    openai_server.script(text_answer("fixed it"))
    run = agentcli(["fix the failing test", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "fixed it"  # stdin is not a terminal here: scripted, as new would be
    assert openai_server.requests[0].body["messages"][-1]["content"] == "fix the failing test"
    assert _prompts(workspace) == ["fix the failing test"]


def test_bare_words_are_one_prompt_and_options_may_come_first_or_last(openai_server, workspace, env):
    openai_server.script(text_answer("done"))
    run = agentcli(["--base-url", openai_server.base_url, "fix", "the", "bug", "--json"], env=env,
                   cwd=workspace)
    assert run.code == 0, run.stderr
    assert run.events()[-1]["type"] == "session.finished"
    assert _prompts(workspace) == ["fix the bug"]


def test_a_piped_prompt_to_bare_agentcli_runs_scripted(openai_server, workspace, env):
    openai_server.script(text_answer("typed"))
    run = agentcli([], env={**env, "OPENAI_BASE_URL": openai_server.base_url}, cwd=workspace,
                   stdin="add type hints to util.py\n")
    assert run.code == 0, run.stderr
    assert run.stdout.strip() == "typed"
    assert run.stderr.startswith("agentcli: session ")
    assert _prompts(workspace) == ["add type hints to util.py\n"]


def test_nothing_piped_to_bare_agentcli_is_one_line_and_no_session(workspace, env):
    run = agentcli([], env=env, cwd=workspace, stdin="")
    assert run.code == 2 and run.stderr.count("\n") == 1, run.stderr
    assert not list(sessions_folder(workspace).glob("*.sqlite"))


def test_command_names_still_win(openai_server, workspace, env):
    run = agentcli(["list", "--json"], env=env, cwd=workspace)
    assert run.code == 0 and json.loads(run.stdout) == []
    assert openai_server.requests == []


def test_a_word_that_is_nearly_a_command_is_refused_not_sent(openai_server, workspace, env):
    run = agentcli(["lsit", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 2
    assert run.stderr == ("agentcli: 'lsit' is not a command — did you mean agentcli list? (to start a "
                          "session with that prompt: agentcli new lsit)\n")
    assert openai_server.requests == [] and not sessions_folder(workspace).exists()


def test_version_and_dash_dash_version_agree(workspace, env):
    from agentcli import __version__

    word = agentcli(["version"], env=env, cwd=workspace)
    flag = agentcli(["--version"], env=env, cwd=workspace)
    assert word.code == flag.code == 0
    assert word.stdout == flag.stdout == f"agentcli {__version__}\n"


def test_help_is_the_help(workspace, env):
    run = agentcli(["help"], env=env, cwd=workspace)
    assert run.code == 0 and "Usage: agentcli" in run.stdout and "fork" in run.stdout


def test_the_command_names_are_the_apps():
    registered = set(typer.main.get_command(make_app()).commands)  # type: ignore[attr-defined]
    assert set(COMMAND_NAMES) == registered


@pytest.mark.parametrize(("argv", "tty", "parsed"), [
    ([], True, ["new"]),
    ([], False, ["new"]),
    (["fix it", "-C", "dir", "-p"], True, ["new", "fix it", "-C", "dir", "-p"]),
    (["--model=x", "go", "--no-compact", "on"], True, ["new", "go on", "--model=x", "--no-compact"]),
    (["--", "-n", "means", "dry"], True, ["new", "-n means dry"]),
    (["-p"], True, ["new", "-p"]),
    (["show", "last"], True, ["show", "last"]),
    (["--version"], True, ["--version"]),
])
def test_the_command_line_as_the_app_reads_it(argv, tty, parsed):
    assert session_args(argv, stdin_tty=tty, stdout_tty=True) == parsed


def test_piped_output_of_bare_agentcli_at_a_terminal_is_the_help():
    assert session_args([], stdin_tty=True, stdout_tty=False) == []
