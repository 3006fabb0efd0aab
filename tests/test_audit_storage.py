"""The audit log grows linearly (issue 15): tools stored once, message ids as ranges,
and ``log --full`` still rebuilds each request exactly as it was sent."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from agent_harness import agentcli, rows, session_file
from openai_answers import text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer

from agentcli.session.audit_codec import decode_ids, encode_ids
from agentcli.session.directory import SessionDirectory
from agentcli.session.session import Session

FIXTURES = Path(__file__).parent / "fixtures"
TOOLS = [{"type": "function", "function": {"name": f"tool_{i}", "description": "x" * 400,
                                            "parameters": {"type": "object"}}} for i in range(10)]


def test_id_ranges_round_trip() -> None:
    for ids in ([], [5], [1, 2, 3], [1, 2, 4, 6, 7, 8, 20], list(range(1, 10_001))):
        assert decode_ids(encode_ids(ids)) == ids
    assert encode_ids(range(1, 10_001)) == "1-10000"
    assert decode_ids("[3, 4, 9]") == [3, 4, 9]  # files before schema 5


def test_a_rows_size_does_not_grow_with_the_session(tmp_path: Path) -> None:
    """300 requests over a growing transcript: the last row is as small as the tenth."""
    with SessionDirectory(tmp_path / "s").create(workspace_root=tmp_path) as session:
        ids: list[int] = []
        for step in range(300):
            ids.append(session.transcript.append("user", f"step {step}", agent="orchestrator").id)
            row = session.model_calls.begin(model="m", endpoint_host="h", agent="orchestrator",
                                            request={"model": "m", "messages": [], "tools": TOOLS,
                                                     "stream": True}, message_ids=list(ids), attempt=0,
                                            prompt_id=None)
        sizes = rows(session.path, "SELECT length(request) + length(request_message_ids) AS n "
                                   "FROM model_calls ORDER BY id")
        assert sizes[-1]["n"] <= sizes[9]["n"] + 2 < 100  # "1-300" has one digit more than "1-10"
        tool_blobs = rows(session.path, "SELECT count(DISTINCT tools_hash) AS n FROM model_calls")
        assert tool_blobs[0]["n"] == 1
        last = session.model_calls.all()[-1]
        assert last.id == row and last.request["tools"] == TOOLS and last.request_message_ids == ids
        assert list(last.request) == ["model", "tools", "stream"]


def test_log_full_rebuilds_each_request_exactly_as_sent(
    openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]
) -> None:
    (workspace / "a.txt").write_text("alpha\n")
    openai_server.script(tool_answer(tool_call("read_file", {"path": "a.txt"})),
                         tool_answer(tool_call("update_plan",
                                               {"items": [{"title": "read", "status": "done"}]})),
                         text_answer("alpha it is"))
    run = agentcli(["new", "read a.txt", "-p", "--base-url", openai_server.base_url,
                    "--approval", "full-auto"], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    log = agentcli(["log", run.session_id, "--full", "--json"], env=env, cwd=workspace)
    rebuilt = [call["request"] for call in json.loads(log.stdout)["model_calls"]]
    sent = [request.body for request in openai_server.requests]
    assert len(rebuilt) == len(sent) == 3
    for mine, theirs in zip(rebuilt, sent):
        assert json.dumps(mine) == json.dumps(theirs)  # same keys, same order, same values


def test_an_older_file_is_converted_and_reads_the_same(tmp_path: Path) -> None:
    source = FIXTURES / "session-v3.sqlite"
    path = tmp_path / source.name
    shutil.copyfile(source, path)
    conn = sqlite3.connect(path)
    before = [(json.loads(r), json.loads(i)) for r, i in
              conn.execute("SELECT request, request_message_ids FROM model_calls ORDER BY id")]
    conn.close()
    with Session.open(path, writer=True) as session:
        after = [(c.request, c.request_message_ids) for c in session.model_calls.all()]
    assert after == before
    stored = rows(path, "SELECT request, request_message_ids, tools_hash FROM model_calls ORDER BY id")
    assert all("tools" not in json.loads(r["request"]) for r in stored)
    assert all(not r["request_message_ids"].startswith("[") for r in stored)


def test_a_two_megabyte_write_is_stored_once_plus_its_rollback_image(
    openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]
) -> None:
    import base64
    import os

    content = base64.b64encode(os.urandom(1_500_000)).decode()  # 2 MB that barely compresses
    openai_server.script(tool_answer(tool_call("write_file", {"path": "big.txt", "content": content}),
                                     chunk_size=65536),
                         text_answer("written"))
    # a window that holds the 2 MB answer (a model that can write it has one)
    run = agentcli(["new", "write it", "-p", "--base-url", openai_server.base_url,
                    "--approval", "full-auto", "--context-window", "2000000"], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    db = session_file(workspace, run.session_id)
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("VACUUM")  # count what is stored, not free pages
    conn.close()
    # the answer's arguments (in the transcript) and the file's after-image (for rollback);
    # not again in tool_calls.arguments nor in the audit log's response
    assert db.stat().st_size < 2 * len(content) + 300_000
    call = rows(db, "SELECT arguments FROM tool_calls")[0]
    assert call["arguments"] == ""
    log = agentcli(["log", run.session_id, "--full", "--json"], env=env, cwd=workspace)
    response = json.loads(log.stdout)["model_calls"][0]["response"]
    sent = json.loads(response["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert sent["content"] == content and "agentcli_from_message" not in response
    show = agentcli(["show", run.session_id, "--json"], env=env, cwd=workspace)
    assert json.loads(json.loads(show.stdout)["tool_calls"][0]["arguments"])["content"] == content
