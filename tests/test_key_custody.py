"""Issue 20, critical 2 and 3: where the key is, and where it goes.

- A real agentcli process holds the key where no command it runs can read it: not in
  its ``/proc/PID/environ`` (the block the process started with), not in any ancestor's
  a command can walk up to, not in its children's environments.
- Redaction catches the key's base64 (standard, URL-safe, every alignment, wrapped) and hex.
- A server found by ``--local`` or ``doctor --local`` never gets the key (the no-key
  placeholder instead), nor does it when such a session is resumed; ``--base-url`` does.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from agent_harness import API_KEY, agentcli, agentcli_process, session_file
from openai_answers import text_answer, tool_answer, tool_call
from openai_server import ScriptedOpenAIServer
from test_doctor import closed_port

from agentcli.session.redaction import Redactor

linux_only = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

# Every process from the shell up to init: "== PID COMM", then its environment, one variable a line.
WALK = ('pid=$$; while [ "$pid" -gt 1 ]; do echo "== $pid $(cat /proc/$pid/comm)"; '
        "tr '\\0' '\\n' < /proc/$pid/environ; pid=$(cut -d' ' -f4 /proc/$pid/stat); done > {out}")


def _sections(text: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in text.split("== ")[1:]:
        head, _, body = chunk.partition("\n")
        found[int(head.split()[0])] = body
    return found


@linux_only
def test_no_command_reads_the_key_from_agentcli_or_any_parent(tmp_path: Path, env: dict[str, str]) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    found = tmp_path / "environments.txt"
    env = {**env, "AGENTCLI_PARENT_MARK": "visible-to-children", "GITHUB_TOKEN": "ghp-parent-token-0123"}
    with ScriptedOpenAIServer() as server:
        server.script(tool_answer(tool_call("run_shell", {"command": WALK.format(out=found)})),
                      text_answer("walked"))
        # no sandbox: the custody of the key must hold without the sandbox's pid namespace
        args = ["new", "walk up", "-p", "--base-url", server.base_url, "--approval", "full-auto",
                "--sandbox", "off"]
        proc = subprocess.Popen([sys.executable, "-m", "agentcli", *args], cwd=workspace, env=env, text=True,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert out.strip() == "walked"
        # the key still reached the endpoint it was meant for
        assert {r.headers.get("authorization") for r in server.requests} == {f"Bearer {API_KEY}"}
    sections = _sections(found.read_text(errors="replace"))
    assert proc.pid in sections, "the walk did not reach agentcli"
    assert "AGENTCLI_PARENT_MARK=visible-to-children" in sections[proc.pid]  # it read agentcli's block
    assert API_KEY not in found.read_text(errors="replace")
    assert "ghp-parent-token-0123" not in sections[proc.pid]  # other secret-looking values are wiped too
    assert "OPENAI_API_KEY=\n" in sections[proc.pid] or "OPENAI_API_KEY" not in sections[proc.pid]


TAKE_PROBE = """
import ctypes, os, subprocess, sys
from agentcli.agent.model.key import api_key, take_key
take_key()
block = open("/proc/self/environ", "rb").read()
walk = "cat /proc/$PPID/environ; echo; echo --env--; env"
child = subprocess.run(["sh", "-c", walk], capture_output=True).stdout
dumpable = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
print(api_key(), os.environ.get("OPENAI_API_KEY"), dumpable, os.environ.get("DB_PASSWORD"))
sys.stdout.flush()
sys.stdout.buffer.write(block + b"\\n--\\n" + child)
"""


@linux_only
def test_take_key_wipes_the_original_block_and_makes_the_process_undumpable(env: dict[str, str]) -> None:
    env = {**env, "DB_PASSWORD": "hunter2-long-pass"}
    run = subprocess.run([sys.executable, "-c", TAKE_PROBE], env=env, capture_output=True, timeout=30)
    assert run.returncode == 0, run.stderr
    first, _, rest = run.stdout.partition(b"\n")
    # held for the model client; gone from os.environ; the process is not dumpable; other
    # secret-looking variables stay in os.environ (shell_env.include may give them to a command)
    assert first.decode().split() == [API_KEY, "None", "0", "hunter2-long-pass"]
    shown, _, inherited = rest.partition(b"--env--")  # the block, read by itself and by its child
    assert API_KEY.encode() not in rest  # the key is nowhere, not even in what a child inherits
    assert b"hunter2-long-pass" not in shown  # other secrets are gone from the block /proc shows...
    assert b"DB_PASSWORD=hunter2-long-pass" in inherited  # ...not from what a library's child gets
    assert b"OPENAI_API_KEY=\0" in shown  # the name stays, its value is zeroed


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy", b"Authorization: Bearer "])
def test_redaction_catches_the_keys_base64_and_hex(prefix: bytes) -> None:
    redactor = Redactor([API_KEY])
    data = prefix + API_KEY.encode() + b"\n"
    printed = [
        base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode(),
        data.hex(), data.hex().upper(),
        subprocess.run(["base64", "-w", "24"], input=data, capture_output=True).stdout.decode(),
        "\n".join(data.hex()[i:i + 60] for i in range(0, len(data.hex()), 60)),  # xxd -p
    ]
    for text in printed:
        redacted = redactor.text(f"output: {text} end")
        assert "***" in redacted, text
        assert redacted.startswith("output: ") and redacted.endswith(" end")
        for secret_part in (API_KEY[4:20], API_KEY[12:]):
            for form in (base64.b64encode, base64.urlsafe_b64encode):
                assert form(secret_part.encode()).decode()[4:-4] not in redacted
        assert API_KEY.encode().hex()[8:-8] not in redacted.lower()


def test_an_encoded_key_never_reaches_the_file_or_the_model(
    openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]
) -> None:
    encoded = base64.b64encode(f"token={API_KEY}".encode()).decode()
    (workspace / "leak.b64").write_text(encoded + "\n" + API_KEY.encode().hex() + "\n")
    openai_server.script(tool_answer(tool_call("read_file", {"path": "leak.b64"})), text_answer("seen"))
    run = agentcli(["new", "read leak.b64", "-p", "--json", "--base-url", openai_server.base_url,
                    "--approval", "full-auto"], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    sent = json.dumps(openai_server.requests[1].body["messages"][-1])
    db = session_file(workspace, run.events()[0]["session"])
    stored = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    for form in (encoded[8:-8], API_KEY.encode().hex()[4:-4]):
        assert form not in sent and form not in run.stdout
        assert form.encode() not in stored


def _local(server: ScriptedOpenAIServer, env: dict[str, str]) -> dict[str, str]:
    port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
    return {**env, "AGENTCLI_LOCAL_PORTS": f"{closed_port()},Ollama={port}"}


def test_a_discovered_local_server_never_gets_the_key(
    openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]
) -> None:
    openai_server.models = ["qwen2.5-coder"]
    env = _local(openai_server, env)
    openai_server.script(text_answer("from a local server"), text_answer("again"), text_answer("OK"))
    run = agentcli(["new", "hi", "-p", "--local"], env=env, cwd=workspace)
    assert run.code == 0 and run.stdout.strip() == "from a local server", run.stderr
    resumed = agentcli(["resume", "last", "more", "-p"], env=env, cwd=workspace)
    assert resumed.code == 0 and resumed.stdout.strip() == "again", resumed.stderr
    doctor = agentcli(["doctor", "--local"], env=env, cwd=workspace)
    assert doctor.code == 0, doctor.stdout + doctor.stderr
    assert len(openai_server.requests) >= 5  # the chats, doctor's GET /models and its tool check
    sent = {r.headers.get("authorization") for r in openai_server.requests}
    assert sent == {"Bearer sk-no-key", None}, sent  # None: the probes that found it; never the key


def test_an_explicit_base_url_to_the_same_server_gets_the_key(
    openai_server: ScriptedOpenAIServer, workspace: Path, env: dict[str, str]
) -> None:
    openai_server.script(text_answer("given"), text_answer("OK"))
    run = agentcli(["new", "hi", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    agentcli(["doctor", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert {r.headers.get("authorization") for r in openai_server.requests} == {f"Bearer {API_KEY}"}


def test_a_real_process_still_uses_the_key_it_took(tmp_path: Path, env: dict[str, str]) -> None:
    """``take_key`` drops the variable: a scripted run must still find the key (no exit 2)."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    env = {k: v for k, v in env.items() if k != "OPENAI_BASE_URL"}
    with ScriptedOpenAIServer() as server:
        server.script(text_answer("fine"))
        run = agentcli_process(["new", "hi", "-p"], env={**env, "OPENAI_BASE_URL": server.base_url},
                               cwd=workspace)
        assert run.code == 0, run.stderr
        assert server.requests[0].headers.get("authorization") == f"Bearer {API_KEY}"
    assert os.environ.get("OPENAI_API_KEY") != API_KEY  # the test process itself never had it
