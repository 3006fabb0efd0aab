"""Build realistic session files through the session API, for the CLI and store tests."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentcli.cli.app import main
from agentcli.session.directory import SessionDirectory
from agentcli.session.records import FileChange, PlanItem
from agentcli.session.session import Session

MARKUP_TEXT = "[bold]not bold[/bold] and :smile: stay literal"


def populate(session: Session) -> None:
    """Give ``session`` one finished prompt: messages, a tool call, model calls, a plan."""
    prompt = session.prompts.add("fix the failing test")
    session.prompts.start(prompt.id)
    session.checkpoints.create(prompt.id, session.transcript.last_id(), session.files.last_id(),
                               file_count=3)
    system = session.transcript.append("system", "You are agentcli.", agent="orchestrator")
    user = session.transcript.append("user", "fix the failing test", prompt_id=prompt.id,
                                     agent="orchestrator")
    request = {"model": "gpt-test", "stream": True, "tools": [{"type": "function"}]}
    first = session.model_calls.begin(model="gpt-test", endpoint_host="127.0.0.1", request=request,
                                      message_ids=[system.id, user.id], attempt=0, prompt_id=prompt.id,
                                      agent="orchestrator")
    session.model_calls.finish(first, status="error", error="HTTP 429: slow down", http_status=429,
                               latency_ms=12)
    second = session.model_calls.begin(model="gpt-test", endpoint_host="127.0.0.1", request=request,
                                       message_ids=[system.id, user.id], attempt=1, prompt_id=prompt.id,
                                       agent="orchestrator")
    call = {"id": "call_1", "type": "function",
            "function": {"name": "read_file", "arguments": json.dumps({"path": "app.py"})}}
    reply = {"role": "assistant", "content": "", "tool_calls": [call]}
    session.model_calls.finish(second, status="ok", response=reply, http_status=200, latency_ms=340,
                               usage=(100, 20, 120))
    with session.transaction():
        assistant = session.transcript.append("assistant", "Let me read it.", prompt_id=prompt.id,
                                              tool_calls=[call], model_call_id=second, agent="orchestrator")
        tool_row = session.tool_calls.begin(message_id=assistant.id, position=0, call_id="call_1",
                                            name="read_file", arguments=call["function"]["arguments"],
                                            prompt_id=prompt.id, kind="read", agent="orchestrator")
    session.tool_calls.finish(tool_row, "done", "def app():\n    return 1\n", duration_ms=3)
    session.transcript.append("tool", "def app():\n    return 1\n", prompt_id=prompt.id,
                              tool_call_id="call_1", agent="orchestrator")
    session.plan.replace(tool_row, [PlanItem("read app.py", "done"), PlanItem("fix it", "in_progress")])
    digest = session.blobs.put(b"def app():\n    return 2\n")
    session.files.log(FileChange(path="app.py", op="modify", source="tool", after_hash=digest,
                                 prompt_id=prompt.id, tool_call_id=tool_row))
    third = session.model_calls.begin(model="gpt-test", endpoint_host="127.0.0.1", request=request,
                                      message_ids=[system.id, user.id, assistant.id], attempt=0,
                                      prompt_id=prompt.id, agent="orchestrator")
    final = session.transcript.append("assistant", f"Fixed. {MARKUP_TEXT}", prompt_id=prompt.id,
                                      model_call_id=third, agent="orchestrator")
    session.model_calls.finish(third, status="ok", response={"content": final.content}, http_status=200,
                               latency_ms=250, usage=(150, 30, 180))
    session.prompts.finish(prompt.id, "done")
    session.update_meta(status="idle", model="gpt-test", endpoint_host="127.0.0.1")


def make_session(folder: Path, workspace: Path, title: str = "fix the failing test") -> Path:
    """Create and populate a session of ``workspace`` in ``folder``; returns its path."""
    with SessionDirectory(folder).create(workspace_root=workspace, title=title) as session:
        populate(session)
        return session.path


HOLDER = """
import sys
from pathlib import Path
from agentcli.session.session import Session

session = Session.open(Path(sys.argv[1]), writer=True)
if "--open-transaction" in sys.argv:
    session.db.execute("BEGIN IMMEDIATE")
    session.transcript.append("user", "not committed", agent="orchestrator")
print("locked", flush=True)
sys.stdin.read()  # hold the lock until the test closes our stdin (or kills us)
"""


@contextlib.contextmanager
def writer_process(path: Path, *extra: str) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds ``path``'s writer lock until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), *extra], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def run_main(args: list[str]) -> int:
    """Run ``agentcli ARGS`` through the real error boundary; return the exit code."""
    with pytest.raises(SystemExit) as exited:
        main(args)
    code = exited.value.code
    return code if isinstance(code, int) else 1


def damage_table(path: Path, table: str) -> None:
    """Overwrite the root page of ``table`` with garbage, leaving the schema readable."""
    conn = sqlite3.connect(path)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    data[(root - 1) * page_size:root * page_size] = b"\xa5" * page_size
    path.write_bytes(bytes(data))
