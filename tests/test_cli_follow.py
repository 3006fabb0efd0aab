"""show --follow: tailing a session that another process is driving."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from session_factory import writer_process

RUNNING_WRITER = """
import json, sys
from pathlib import Path
from agentcli.session.session import Session

session = Session.open(Path(sys.argv[1]), writer=True)
session.update_meta(status="running")
print("locked", flush=True)
sys.stdin.readline()  # go on once the follower is tailing
arguments = json.dumps({"command": "pytest"})
call = {"id": "call_9", "type": "function", "function": {"name": "run_shell", "arguments": arguments}}
message = session.transcript.append("assistant", "Running the tests.", tool_calls=[call],
                                    agent="orchestrator")
row = session.tool_calls.begin(message_id=message.id, position=0, call_id="call_9", name="run_shell",
                               arguments=arguments, prompt_id=None, summary="$ pytest",
                               agent="orchestrator")
sys.stdin.readline()  # finish the call once the follower has shown it running
session.tool_calls.finish(row, "done", "3 passed", duration_ms=700)
session.transcript.append("tool", "3 passed", tool_call_id="call_9", agent="orchestrator")
session.transcript.append("assistant", "All green. [red]literal[/red]", agent="orchestrator")
session.update_meta(status="idle")
session.close()
"""


def _start_follower(workspace: Path, session_id: str) -> tuple[subprocess.Popen[str], list[str]]:
    follower = subprocess.Popen(
        [sys.executable, "-m", "agentcli", "show", session_id, "--follow", "-C", str(workspace)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return follower, _read_until(follower, "following session")


def _read_until(follower: subprocess.Popen[str], text: str) -> list[str]:
    """The follower's lines up to and including the first one that contains ``text``."""
    assert follower.stdout is not None
    seen: list[str] = []
    while not seen or text not in seen[-1]:
        line = follower.stdout.readline()
        assert line, f"the follower ended before printing {text!r}: " + "".join(seen)
        seen.append(line)
    return seen


def test_show_follow_tails_a_running_session_until_it_stops(workspace: Path, session_path: Path) -> None:
    writer = subprocess.Popen([sys.executable, "-c", RUNNING_WRITER, str(session_path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "locked\n"
        follower, seen = _start_follower(workspace, session_path.stem)
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
        running = _read_until(follower, "run_shell $ pytest  running")
        writer.stdin.write("finish\n")
        writer.stdin.flush()
        rest, err = follower.communicate(timeout=30)
        rest = "".join(running) + rest
    finally:
        writer.kill()
        writer.wait()
    assert follower.returncode == 0, err
    assert "Let me read it." in "".join(seen)  # what was there before following
    assert "Running the tests." in rest
    assert "run_shell $ pytest  done \u00b7 700 ms" in rest and rest.count("3 passed") == 1
    assert "All green. [red]literal[/red]" in rest
    assert rest.rstrip().endswith("is idle: nothing is driving it")


def test_show_follow_stops_quietly_on_ctrl_c(workspace: Path, session_path: Path) -> None:
    with writer_process(session_path):
        follower, _ = _start_follower(workspace, session_path.stem)
        follower.send_signal(signal.SIGINT)
        out, err = follower.communicate(timeout=30)
    assert follower.returncode == 0, (out, err)
    assert "Traceback" not in err
