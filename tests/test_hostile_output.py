"""Issue 20, major 12, and issue 28's stderr line: nothing hostile reaches the terminal raw.

Text from a model, a tool, a server or a session file may hold escape sequences (a new
window title, a cleared screen), C1 controls (``\\x9b`` is CSI on many terminals) and
bidi overrides or isolates (text that reads differently from what it is). Every
human-facing line goes through one cleaner (``cli/render/text.py::clean``); data a
command prints (``export``, the ``-p`` answer) is cleaned when it goes to a terminal and
left byte for byte when piped.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from agent_harness import agentcli, session_file
from openai_answers import error_answer, text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer
from rich.markdown import Markdown
from rich.table import Table

from agentcli.cli.render.console import CleanConsole
from agentcli.cli.render.text import clean

HOSTILE = "a\x1b]0;pwned\x07b \x1b[2Jc \x9b31md \u202eevil\u202c e\u2066iso\u2069 f\u200bg\u061ch"
RAW = ("\x1b", "\x9b", "\x07", "\u202e", "\u202c", "\u2066", "\u2069", "\u200b", "\u061c")


def raw_in(text: str) -> list[str]:
    return [repr(char) for char in RAW if char in text]


def test_the_cleaner_drops_controls_and_bidi_and_keeps_text() -> None:
    assert clean(HOSTILE) == "a␛]0;pwned?b ␛[2Jc ?31md ?evil? e?iso? f?g?h"
    kept = "tab\tand\nnewline, 漢字, e\u0301, 👩\u200d💻"
    assert clean(kept) == kept


def test_every_rich_renderable_is_cleaned() -> None:
    out = io.StringIO()
    console = CleanConsole(file=out, force_terminal=True, width=100)
    table = Table("name")
    table.add_row(HOSTILE)
    for renderable in (HOSTILE, Markdown(f"# {HOSTILE}\n\n`{HOSTILE}`"), table):
        console.print(renderable)
    shown = out.getvalue().replace("\x1b[", "")  # rich's own styles start so: count them out
    assert "\x1b" not in shown.replace("\x1b]", "") and raw_in(shown.replace("\x1b", "")) == []
    assert "␛]0;pwned" in out.getvalue() and "?evil?" in out.getvalue()


def test_the_denied_command_line_is_cleaned(openai_server: ScriptedOpenAIServer, workspace: Path,
                                            env: dict[str, str]) -> None:
    openai_server.script(tool_answer(tool_call("run_shell", {"command": f"echo '{HOSTILE}'"})),
                         text_answer("ok"))
    run = agentcli(["new", "go", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 6, run.stderr
    (line,) = [line for line in run.stderr.splitlines() if "denied by the approval policy" in line]
    assert raw_in(line) == [] and "?evil?" in line


def test_list_show_checkpoints_and_log_clean_what_the_session_holds(
    openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]
) -> None:
    openai_server.script(error_answer(400, message=HOSTILE))
    failed = agentcli(["new", f"first {HOSTILE}", "-p", "--base-url", openai_server.base_url,
                       "--model", f"m{HOSTILE}"], env=env, cwd=workspace)
    assert failed.code == 3
    assert raw_in(failed.stderr) == []  # the endpoint's message, quoted in the error line
    openai_server.script(text_answer(HOSTILE))
    run = agentcli(["new", f"title {HOSTILE}", "-p", "--json", "--base-url", openai_server.base_url,
                    "--model", f"m{HOSTILE}"], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    session = run.events()[0]["session"]
    for args in (["list"], ["list", "--all"], ["show", session], ["checkpoints", session], ["log", session],
                 ["log", session, "--full"]):
        shown = agentcli(args, env=env, cwd=workspace)
        assert shown.code == 0, (args, shown.stderr)
        assert raw_in(shown.stdout + shown.stderr) == [], args
    assert "?evil?" in agentcli(["show", session], env=env, cwd=workspace).stdout
    # machine output keeps the data: JSON escapes it, and nothing is lost
    listed = json.loads(agentcli(["list", "--json"], env=env, cwd=workspace).stdout)
    assert any(HOSTILE in (entry["title"] or "") for entry in listed)


def test_doctor_cleans_what_a_server_says(openai_server: ScriptedOpenAIServer, workspace: Path,
                                         env: dict[str, str]) -> None:
    openai_server.models = [f"model{HOSTILE}", "other"]
    run = agentcli(["doctor", "--no-call", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert "model" in run.stdout and raw_in(run.stdout) == []


def _on_a_terminal(args: list[str], env: dict[str, str], cwd: Path) -> str:
    """Run a real agentcli with stdout on a pseudo-terminal; what it printed there."""
    main, secondary = os.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "agentcli", *args], cwd=cwd, env=env,
                              stdin=subprocess.DEVNULL, stdout=secondary, stderr=subprocess.PIPE, timeout=60)
        os.close(secondary)
        secondary = -1
        chunks = []
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.returncode == 0, proc.stderr
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        os.close(main)
        if secondary >= 0:
            os.close(secondary)


@pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")
def test_the_answer_and_export_are_cleaned_on_a_terminal_and_exact_when_piped(
        workspace: Path, env: dict[str, str]) -> None:
    with ScriptedOpenAIServer() as server:
        server.script(text_answer(f"answer {HOSTILE}"), text_answer(f"answer {HOSTILE}"))
        args = ["new", "hi", "-p", "--base-url", server.base_url]
        on_terminal = _on_a_terminal(args, env, workspace)
        assert "answer a␛]0;pwned" in on_terminal and raw_in(on_terminal) == []
        piped = agentcli(args, env=env, cwd=workspace)
        assert piped.stdout == f"answer {HOSTILE}\n"  # a pipe gets the answer byte for byte
    session = piped.session_id
    exported = _on_a_terminal(["export", session], env, workspace)
    assert "?evil?" in exported and raw_in(exported) == []
    assert HOSTILE in agentcli(["export", session], env=env, cwd=workspace).stdout
    assert session_file(workspace, session).is_file()
