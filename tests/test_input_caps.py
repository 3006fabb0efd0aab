"""Piped stdin and ``@path`` mentions are read up to a cap, never whole (issue 20, major 14):
``yes | agentcli new -p`` is refused with one line instead of reading for ever."""

from __future__ import annotations

import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

from agent_harness import agentcli, sessions_folder
from openai_answers import text_answer

from agentcli.cli.prompt_input import MAX_MENTION_BYTES, MAX_MENTIONS_BYTES, MAX_PROMPT_BYTES
from agentcli.cli.terminal.inputs import attach_mentions

TOO_LONG = f"agentcli: the prompt on stdin is longer than {MAX_PROMPT_BYTES:,} bytes (4 MiB)"


def test_a_prompt_on_stdin_past_the_cap_is_refused_in_one_line(openai_server, workspace, env):
    base = ["--base-url", openai_server.base_url]
    run = agentcli(["new", "-p", *base], env=env, cwd=workspace, stdin="y\n" * (MAX_PROMPT_BYTES // 2 + 1))
    assert run.code == 2 and run.stderr.startswith(TOO_LONG) and run.stderr.count("\n") == 1, run.stderr
    assert openai_server.requests == [] and not list(sessions_folder(workspace).glob("*.sqlite"))
    openai_server.script(text_answer("fits"))
    fits = agentcli(["new", "-p", "--context-window", "2000000", *base], env=env, cwd=workspace,
                    stdin="y" * MAX_PROMPT_BYTES)
    assert fits.code == 0 and fits.stdout.strip() == "fits", fits.stderr


def test_an_endless_pipe_is_read_to_the_cap_and_refused(openai_server, workspace, env):
    """``yes | agentcli new -p``, with a real pipe and a real process."""
    command = [sys.executable, "-m", "agentcli", "new", "-p", "--base-url", openai_server.base_url]
    proc = subprocess.Popen(command, cwd=workspace, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    written = [0]

    def yes() -> None:
        try:
            while True:
                proc.stdin.write(b"y\n" * 32768)
                written[0] += 65536
        except (BrokenPipeError, ValueError, OSError):
            pass

    threading.Thread(target=yes, daemon=True).start()
    try:
        code = proc.wait(timeout=60)
    finally:
        proc.kill()
    stderr = proc.stderr.read().decode()
    assert code == 2 and TOO_LONG in stderr, stderr
    assert written[0] < 8 * MAX_PROMPT_BYTES  # it stopped reading; the writer met a closed pipe
    assert openai_server.requests == []


def test_a_mentioned_file_is_read_to_its_cap_only(tmp_path: Path):
    root = tmp_path / "ws"
    root.mkdir()
    with (root / "huge.log").open("wb") as huge:  # 64 MB, sparse: no disk, but read_bytes() reads it all
        huge.write(b"start\n")
        huge.truncate(64 << 20)
    tracemalloc.start()
    try:
        mentions = attach_mentions("explain @huge.log", root)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert mentions.problems == ["@huge.log: a binary file, not attached"]  # zeros after the first line
    assert peak < 8 * MAX_MENTION_BYTES, f"peak {peak:,} bytes"


def test_the_files_of_one_prompt_attach_at_most_the_total_cap(tmp_path: Path):
    root = tmp_path / "ws"
    root.mkdir()
    count = MAX_MENTIONS_BYTES // MAX_MENTION_BYTES + 1
    for n in range(count):
        (root / f"f{n}.txt").write_text("line\n" * (MAX_MENTION_BYTES // 5))
    mentions = attach_mentions(" ".join(f"@f{n}.txt" for n in range(count)), root)
    assert [path for path, _ in mentions.attached] == [f"f{n}.txt" for n in range(count - 1)]
    assert mentions.problems == [f"@f{count - 1}.txt: not attached: the files of one prompt attach at most "
                                 f"{MAX_MENTIONS_BYTES // 1000:,} kB together"]
    assert len(mentions.text.encode()) < MAX_MENTIONS_BYTES + 10_000
