"""Issue 19: every run_shell command runs in a bubblewrap sandbox — real bwrap, real commands,
through ``agentcli new -p --approval full-auto`` with scripted model answers.

Nothing a command does escapes the workspace (and the session's private /tmp), and what it
does inside, rollback undoes. The home folder and the "other" folder of these tests live
under /var/tmp, which the sandbox shows read-only as it is (a folder under /tmp or /dev,
where the tests' workspaces live, would be hidden by the sandbox's own /tmp and /dev).
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from agent_harness import API_KEY, Run, agentcli, cli_env, rows, session_file
from openai_answers import text_answer, tool_answer, tool_call
from processes import alive

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None or not Path("/proc/self/ns/pid").exists(),
                                reason="needs bubblewrap (bwrap) on Linux")

FULL_AUTO = ["-p", "--approval", "full-auto"]


@pytest.fixture
def outside() -> Iterator[Path]:
    """A folder outside the workspace that the sandbox shows as it is (read-only)."""
    base = Path("/var/tmp")
    if not os.access(base, os.W_OK):
        pytest.skip("needs a writable /var/tmp")
    folder = Path(tempfile.mkdtemp(prefix="agentcli-sandbox-", dir=base))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def home(outside: Path) -> Path:
    """A home folder with credentials in it, where the sandbox can see it."""
    home = outside / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("SSH-PRIVATE-KEY-0123\n")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text("AWS-SECRET-0123\n")
    (home / ".netrc").write_text("machine x login me password NETRC-SECRET-0123\n")
    (home / "notes.txt").write_text("readable\n")
    return home


@pytest.fixture
def env(home: Path) -> dict[str, str]:
    """``cli_env`` with that home (agentcli's config folder inside it: hidden too)."""
    return cli_env(home, HOME=str(home))


def shell(openai_server: Any, workspace: Path, env: dict[str, str], *commands: str | dict[str, Any],
          args: tuple[str, ...] = (), approval: list[str] = FULL_AUTO) -> tuple[Run, list[dict[str, Any]]]:
    """One ``agentcli new -p`` whose model runs ``commands`` one per step; the run and its
    tool_calls rows."""
    calls = [c if isinstance(c, dict) else {"command": c} for c in commands]
    openai_server.script(*[tool_answer(tool_call("run_shell", c)) for c in calls], text_answer("done"))
    run = agentcli(["new", "go", *approval, "--base-url", openai_server.base_url, *args], env=env,
                   cwd=workspace)
    ids = [line.split()[-1] for line in run.stderr.splitlines() if line.startswith("agentcli: session ")]
    if not ids:
        return run, []
    found = rows(session_file(workspace, ids[0]),
                 "SELECT result, status, sandbox, approval FROM tool_calls ORDER BY id")
    return run, found


def sandbox_processes(marker: str) -> list[int]:
    """Host pids of our processes whose command line holds ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if marker.encode() in cmdline.read() and alive(int(entry)):
                        found.append(int(entry))
            except OSError:
                pass
    return found


def test_writes_outside_the_workspace_are_refused_and_nothing_is_written(openai_server, workspace, env,
                                                                        home, outside):
    mark = uuid.uuid4().hex[:8]
    host_tmp = Path("/tmp") / f"agentcli-escape-{mark}"
    command = (f"echo x > {home}/planted; echo x > {outside}/planted; echo x > {host_tmp}; "
               f"(cd / && echo x > {outside}/rooted); echo inside > kept.txt; echo finished")
    run, calls = shell(openai_server, workspace, env, command)
    assert run.code == 0, run.stderr
    result = calls[0]["result"]
    assert result.count("Read-only file system") == 3 and "finished" in result
    assert not (home / "planted").exists() and not (outside / "planted").exists()
    assert not (outside / "rooted").exists()
    assert not host_tmp.exists()  # the write went to the session's own /tmp, not the machine's
    assert (workspace / "kept.txt").read_text() == "inside\n"
    assert calls[0]["sandbox"] == "workspace-write"


def test_the_private_tmp_lasts_between_commands_and_is_nobody_elses(openai_server, workspace, env):
    mark = uuid.uuid4().hex
    hosts = Path(f"/tmp/agentcli-host-{mark}")  # in the machine's /tmp: not to be seen inside
    hosts.write_text("the machine's\n")
    try:
        run, calls = shell(openai_server, workspace, env,
                           f"ls {hosts} 2>&1; echo {mark} > /tmp/kept; echo TMPDIR=$TMPDIR",
                           "cat /tmp/kept", args=(), approval=FULL_AUTO)
    finally:
        hosts.unlink()
    assert run.code == 0, run.stderr
    # not the machine's /tmp (agentcli's own folders there, a venv say, may be bound in to run it)
    assert "No such file or directory" in calls[0]["result"]
    assert f"{mark}\n" in calls[1]["result"]
    assert not Path("/tmp/kept").exists() or Path("/tmp/kept").read_text() != f"{mark}\n"


def test_tmpdir_points_at_the_private_tmp(openai_server, workspace, env, tmp_path):
    run, calls = shell(openai_server, workspace, {**env, "TMPDIR": str(tmp_path)},
                       "echo TMPDIR=$TMPDIR; mktemp")
    assert run.code == 0, run.stderr
    assert calls[0]["result"].startswith("TMPDIR=/tmp\n/tmp/tmp.")


def test_git_hooks_agentcli_state_and_the_session_file_stay_read_only(openai_server, workspace, env):
    (workspace / ".git" / "hooks").mkdir(parents=True)
    (workspace / "agentcli.toml").write_text('max_turns = 50\n')
    command = ("echo evil > .git/hooks/pre-commit; echo x >> .agentcli/sessions/*.sqlite; "
               "touch .agentcli/planted; echo 'approval = \"full-auto\"' >> agentcli.toml; "
               "rm -f .agentcli/sessions/*.sqlite-wal; echo y > ok.txt")
    run, calls = shell(openai_server, workspace, env, command)
    assert run.code == 0, run.stderr
    result = calls[0]["result"]
    assert result.count("Read-only file system") == 5, result
    assert not (workspace / ".git" / "hooks" / "pre-commit").exists()
    assert not (workspace / ".agentcli" / "planted").exists()
    assert (workspace / "agentcli.toml").read_text() == 'max_turns = 50\n'
    assert (workspace / "ok.txt").read_text() == "y\n"
    assert "[sandbox: this command ran in the sandbox (workspace-write)" in result
    assert '"sandbox": false' in result  # how to ask for more
    assert rows(session_file(workspace, run.session_id), "SELECT count(*) AS n FROM messages")[0]["n"] > 0


def test_credentials_and_agentclis_config_are_hidden(openai_server, workspace, env, home):
    command = (f"cat {home}/.ssh/id_ed25519 {home}/.aws/credentials {home}/.netrc; ls -A {home}/.ssh; "
               f"cat {home}/config/agentcli/config.toml; cat {home}/notes.txt")
    run, calls = shell(openai_server, workspace, env, command)
    assert run.code == 0, run.stderr
    result = calls[0]["result"]
    assert "SECRET" not in result and "PRIVATE-KEY" not in result and "retry_max_wait" not in result
    assert "readable" in result  # the rest of the home folder is there, read-only
    assert f"{home}/.ssh" in result and "hidden from it" in result  # the note says why


def _listener() -> tuple[socket.socket, list[bool]]:
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[bool] = []

    def accept() -> None:
        server.settimeout(20)
        try:
            connection, _ = server.accept()
            accepted.append(True)
            connection.close()
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    return server, accepted


def test_no_network_without_network_and_network_with_it(openai_server, workspace, env):
    server, accepted = _listener()
    port = server.getsockname()[1]
    connect = f"(exec 3<>/dev/tcp/127.0.0.1/{port}) && echo connected"
    try:
        run, calls = shell(openai_server, workspace, env, connect)
        assert run.code == 0, run.stderr
        assert "Connection refused" in calls[0]["result"] and "connected" not in calls[0]["result"]
        assert "the network is off" in calls[0]["result"]
        assert not accepted

        run, calls = shell(openai_server, workspace, env, connect, args=("--network",))
        assert run.code == 0, run.stderr
        assert "connected" in calls[0]["result"] and "[sandbox" not in calls[0]["result"]
        for _ in range(100):
            if accepted:
                break
            time.sleep(0.05)
        assert accepted
    finally:
        server.close()


def test_agentclis_environment_is_out_of_reach(openai_server, workspace, env):
    walk = ("cat /proc/$PPID/environ; p=$$; while [ \"$p\" -gt 0 ]; do cat /proc/$p/environ; "
            "echo \" pid $p\"; p=$(cut -d' ' -f4 /proc/$p/stat); done; "
            f"cat /proc/{os.getpid()}/environ; for e in /proc/[0-9]*/environ; do cat $e; done; echo walked")
    run, calls = shell(openai_server, workspace, env, walk)
    assert run.code == 0, run.stderr
    result = calls[0]["result"]
    assert "walked" in result and " pid 1\n" in result  # up to the sandbox's init, and no further
    assert API_KEY not in result and "OPENAI_API_KEY" not in result


def test_background_children_die_with_the_command(openai_server, workspace, env):
    mark = f"{os.getpid()}{uuid.uuid4().int % 1000}"
    command = (f"sleep 326.{mark} & disown; setsid sleep 327.{mark} & "
               f"nohup sleep 328.{mark} >/dev/null & echo ok")
    run, calls = shell(openai_server, workspace, env, command)
    assert run.code == 0, run.stderr
    assert calls[0]["result"].startswith("ok\n")
    assert not sandbox_processes(f".{mark}")


def test_the_sandbox_ends_with_the_run(openai_server, workspace, env):
    mark = uuid.uuid4().hex[:12]
    run, _ = shell(openai_server, workspace, env, f"echo {mark} > /tmp/x")
    assert run.code == 0, run.stderr
    assert not [pid for pid in sandbox_processes("supervisor.py") if _bwrap_around(pid, str(workspace))]


def _bwrap_around(pid: int, workspace: str) -> bool:
    """Whether ``pid``'s parent is a bwrap sandbox of ``workspace``."""
    try:
        parent = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]
        return workspace.encode() in Path(f"/proc/{parent}/cmdline").read_bytes()
    except OSError:
        return False


def test_asking_for_outside_is_denied_in_a_scripted_run_unless_sandbox_off(openai_server, workspace, env,
                                                                           outside):
    ask = {"command": f"echo x > {outside}/out.txt", "sandbox": False,
           "justification": "the user wants the file there"}
    run, calls = shell(openai_server, workspace, env, ask)
    assert run.code == 6
    assert "--sandbox off allows it" in run.stderr
    assert (calls[0]["status"], calls[0]["sandbox"]) == ("denied", "outside")
    assert "nobody can be asked" in calls[0]["result"]
    assert not (outside / "out.txt").exists()

    run, calls = shell(openai_server, workspace, env, ask, args=("--sandbox", "off"))
    assert run.code == 0, run.stderr
    assert (calls[0]["status"], calls[0]["sandbox"]) == ("done", "off")
    assert (outside / "out.txt").read_text() == "x\n"


def test_asking_for_outside_needs_a_justification(openai_server, workspace, env):
    run, calls = shell(openai_server, workspace, env, {"command": "true", "sandbox": False})
    assert run.code == 0
    assert calls[0]["status"] == "failed" and "justification" in calls[0]["result"]


def _without_bwrap(tmp_path: Path) -> str:
    """A PATH with a shell and a few tools, and no bwrap."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "sh", "true", "cat", "touch"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def test_without_bwrap_full_auto_refuses_and_sandbox_off_runs_and_says_so(openai_server, workspace, env,
                                                                           tmp_path):
    env = {**env, "PATH": _without_bwrap(tmp_path)}
    run = agentcli(["new", "go", *FULL_AUTO, "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 2
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("agentcli: ") and "bubblewrap" in last and "--sandbox off" in last
    assert "Traceback" not in run.stderr
    assert not list((workspace / ".agentcli" / "sessions").glob("*.sqlite"))  # refused before a file
    assert openai_server.requests == []

    run, calls = shell(openai_server, workspace, env, "echo made > made.txt", args=("--sandbox", "off"))
    assert run.code == 0, run.stderr
    assert "sandbox off: shell commands run unconfined" in run.stderr
    assert (workspace / "made.txt").read_text() == "made\n"
    assert calls[0]["sandbox"] == "off"
    shown = agentcli(["show", run.session_id], env=env, cwd=workspace)
    assert "OFF: shell commands run unconfined" in shown.stdout and "unsandboxed (off)" in shown.stdout
    meta = rows(session_file(workspace, run.session_id), "SELECT settings FROM meta")[0]["settings"]
    assert '"sandbox": "off"' in meta


def test_json_tool_started_carries_the_sandbox(openai_server, workspace, env):
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "true"})), text_answer("done"))
    run = agentcli(["new", "go", *FULL_AUTO, "--json", "--base-url", openai_server.base_url], env=env,
                   cwd=workspace)
    assert run.code == 0, run.stderr
    events = run.events()
    started = [e for e in events if e["type"] == "session.started"][0]
    assert (started["sandbox"], started["network"]) == ("workspace-write", False)
    tool = [e for e in events if e["type"] == "tool.started"][0]
    assert tool["sandbox"] == "workspace-write"


def test_resume_keeps_the_sandbox_and_network_it_started_with(openai_server, workspace, env):
    run, calls = shell(openai_server, workspace, env, "true", args=("--sandbox", "read-only", "--network"))
    assert calls[0]["sandbox"] == "read-only"
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "echo x > here.txt"})),
                         text_answer("done"))
    resumed = agentcli(["resume", run.session_id, "again", "-p", "--base-url", openai_server.base_url],
                       env=env, cwd=workspace)
    assert resumed.code == 0, resumed.stderr
    last = rows(session_file(workspace, run.session_id),
                "SELECT result, sandbox FROM tool_calls ORDER BY id DESC LIMIT 1")[0]
    assert last["sandbox"] == "read-only" and "Read-only file system" in last["result"]
    assert not (workspace / "here.txt").exists()


def test_an_untrusted_workspace_cannot_turn_the_sandbox_off(openai_server, workspace, env, outside):
    (workspace / "agentcli.toml").write_text('sandbox = "off"\nnetwork = true\n')
    run, calls = shell(openai_server, workspace, env, f"echo x > {outside}/escaped")
    assert run.code == 0, run.stderr
    assert "ignoring sandbox, network" in run.stderr
    assert calls[0]["sandbox"] == "workspace-write" and not (outside / "escaped").exists()


def snapshot(root: Path) -> dict[str, tuple[str, bytes, int]]:
    """Every entry under ``root`` but agentcli's own folder: kind, bytes (or link target), mode."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.split("/")[0] == ".agentcli":
            continue
        if path.is_symlink():
            found[rel] = ("link", os.readlink(path).encode(), 0)
        elif path.is_dir():
            found[rel] = ("dir", b"", stat.S_IMODE(path.stat().st_mode))
        else:
            found[rel] = ("file", path.read_bytes(), stat.S_IMODE(path.stat().st_mode))
    return found


def test_rollback_undoes_everything_a_sandboxed_command_could_do(openai_server, workspace, env, outside):
    (workspace / "edit.txt").write_text("before\n")
    (workspace / "gone.bin").write_bytes(bytes(range(256)))
    (workspace / "run.sh").write_text("#!/bin/sh\n")
    (workspace / "run.sh").chmod(0o644)
    (outside / "theirs.txt").write_text("theirs\n")
    before, outside_before = snapshot(workspace), snapshot(outside)
    command = ("echo after >> edit.txt && rm gone.bin && mkdir -p new/deep && printf 'n\\0' > new/deep/f "
               "&& chmod 755 run.sh && ln -s edit.txt link && "
               f"(echo x >> {outside}/theirs.txt; rm -f {outside}/theirs.txt; touch {outside}/new) ; true")
    run, calls = shell(openai_server, workspace, env, command)
    assert run.code == 0, run.stderr
    assert snapshot(workspace) != before and snapshot(outside) == outside_before
    rolled = agentcli(["rollback", run.session_id], env=env, cwd=workspace)
    assert rolled.code == 0, rolled.stderr
    assert snapshot(workspace) == before
    assert snapshot(outside) == outside_before


def test_without_a_sandbox_ask_mode_asks_each_command_unsandboxed(openai_server, workspace, tmp_path,
                                                                  monkeypatch):
    from terminal_harness import TerminalHarness

    monkeypatch.setenv("PATH", _without_bwrap(tmp_path))
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "echo ran > ran.txt"})),
                         text_answer("done"))
    with TerminalHarness(workspace, openai_server) as term:
        term.expect("no sandbox here (bubblewrap (bwrap) is not on PATH)")  # said at the start
        term.type("run it\r")
        screen = term.expect('(no "always"')
        assert "run_shell wants to run UNSANDBOXED:" in screen
        assert "(there is no sandbox here: bubblewrap (bwrap) is not on PATH)" in screen
        term.keys("y")
        screen = term.expect("context left")
        assert "unsandboxed" in screen
        term.type("/exit\r")
        term.finish()
    assert (workspace / "ran.txt").read_text() == "ran\n"
    db = next((workspace / ".agentcli" / "sessions").glob("*.sqlite"))
    assert rows(db, "SELECT sandbox, approval FROM tool_calls") == [{"sandbox": "unavailable",
                                                                     "approval": "allowed"}]


def _approver_asks(mode: str, confinement: Any, grants: list[Any]) -> tuple[bool, list[Any]]:
    """Whether ``Approver(mode)`` allowed a shell call, and the requests it put to the asker."""
    from agentcli.agent.approval import ApprovalAnswer, ApprovalRequest, Approver

    asked: list[Any] = []

    def asker(request: Any, cancel: Any) -> Any:
        asked.append(request)
        return ApprovalAnswer("always")

    request = ApprovalRequest("orchestrator", "run_shell", "shell", "$ git push", "git push",
                              confinement=confinement)
    decision = Approver(mode, asker).decide(request, grants)
    assert decision.grant is None  # nothing is ever stored for a command outside the sandbox
    return decision.allowed, asked


def test_outside_the_sandbox_is_asked_in_every_mode_and_no_grant_covers_it():
    from agentcli.agent.grants import grant_for
    from agentcli.agent.sandbox.policy import Confinement

    grant = grant_for("git push")
    assert grant is not None
    for confinement in (Confinement("outside", justification="push"), Confinement("unavailable")):
        for mode in ("ask", "auto-edit", "full-auto"):
            allowed, asked = _approver_asks(mode, confinement, [grant])
            assert allowed and len(asked) == 1, (confinement, mode)
        allowed, asked = _approver_asks("read-only", confinement, [grant])
        assert not allowed and not asked
    allowed, asked = _approver_asks("full-auto", Confinement("workspace-write"), [])
    assert allowed and not asked  # in the sandbox, full-auto asks nothing


def test_doctor_says_whether_there_is_a_sandbox_and_how_to_get_one(openai_server, workspace, env, tmp_path):
    import json

    openai_server.models = ["gpt-4o-mini"]
    doctor = ["doctor", "--no-call", "--base-url", openai_server.base_url]
    run = agentcli([*doctor, "--json"], env=env, cwd=workspace)
    report = json.loads(run.stdout)
    assert report["sandbox"]["available"] and report["sandbox"]["mode"] == "workspace-write"
    assert not any("sandbox" in problem for problem in report["problems"])

    bare = {**env, "PATH": _without_bwrap(tmp_path)}
    run = agentcli(doctor, env=bare, cwd=workspace)
    assert run.code == 2
    line = next(line for line in run.stdout.splitlines() if line.startswith("sandbox "))
    assert "NOT AVAILABLE" in line and "apt install bubblewrap" in line and "--sandbox off" in line

    off = {**bare, "XDG_CONFIG_HOME": _config_with(tmp_path, 'sandbox = "off"\n')}
    run = agentcli(doctor, env=off, cwd=workspace)
    assert "OFF (--sandbox off)" in run.stdout and "no shell sandbox" not in run.stdout


def _config_with(tmp_path: Path, text: str) -> str:
    config = tmp_path / "other-config"
    (config / "agentcli").mkdir(parents=True)
    (config / "agentcli" / "config.toml").write_text(text)
    return str(config)


def test_a_sandbox_that_does_not_start_is_an_error_result_never_an_unconfined_run(openai_server, workspace,
                                                                                  env, tmp_path):
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "bwrap").write_text(f"#!/bin/sh\ncase \"$*\" in *--ready*) echo 'bwrap: no room at the inn' >&2; "
                                f"exit 1;; esac\nexec {shutil.which('bwrap')} \"$@\"\n")
    (fake / "bwrap").chmod(0o755)
    env = {**env, "PATH": f"{fake}:{os.environ['PATH']}"}
    run, calls = shell(openai_server, workspace, env, "echo ran > ran.txt")
    assert run.code == 0, run.stderr
    assert calls[0]["status"] == "failed"
    said = "the sandbox did not start: bwrap: no room at the inn, so the command did not run"
    assert said in calls[0]["result"]
    assert not (workspace / "ran.txt").exists()


def test_a_protected_file_replaced_meanwhile_is_protected_again(workspace, tmp_path):
    from agentcli.agent.sandbox.handle import shell_sandbox
    from agentcli.agent.tools.shell import run_command

    config = workspace / "agentcli.toml"
    config.write_text('model = "a"\n')
    sandbox = shell_sandbox("workspace-write", False, workspace, [])
    try:
        append = "echo 'approval = \"full-auto\"' >> agentcli.toml"
        run_command("true", workspace, timeout=10, supervisor=sandbox.supervisor())
        replacement = workspace / "agentcli.toml.new"
        replacement.write_text('model = "b"\n')
        replacement.replace(config)  # as an editor saves: the old file's mount no longer covers it
        result = run_command(append, workspace, timeout=10, supervisor=sandbox.supervisor())
        assert "Read-only file system" in result.output
        assert config.read_text() == 'model = "b"\n'
        (workspace / ".git").mkdir()  # a .git that appears (git init) is protected from the next command
        result = run_command("touch .git/hook", workspace, timeout=10, supervisor=sandbox.supervisor())
        assert "Read-only file system" in result.output and not (workspace / ".git" / "hook").exists()
    finally:
        sandbox.close()


def test_sysctls_are_read_only_even_for_root(openai_server, workspace, env):
    # writing the value it already has: harmless wherever it would land
    run, calls = shell(openai_server, workspace, env,
                       "cat /proc/sys/kernel/hostname > /proc/sys/kernel/hostname; echo done")
    assert run.code == 0, run.stderr
    assert "Read-only file system" in calls[0]["result"] or "Permission denied" in calls[0]["result"]


def test_service_sockets_are_hidden(workspace, outside):
    from agentcli.agent.sandbox.handle import ShellSandbox
    from agentcli.agent.sandbox.policy import SandboxPolicy, service_sockets
    from agentcli.agent.tools.shell import run_command

    service = socket.socket(socket.AF_UNIX)
    path = outside / "run" / "engine.sock"
    path.parent.mkdir()
    service.bind(str(path))
    service.listen()
    try:
        assert service_sockets(outside / "run") == (path,)
        hidden = service_sockets(outside / "run")
        sandbox = ShellSandbox(SandboxPolicy("workspace-write", workspace, hidden=hidden))
        try:
            connect = (f"python3 -c \"import socket; socket.socket(socket.AF_UNIX).connect('{path}')\" "
                       "&& echo reached")
            result = run_command(connect, workspace, timeout=20, supervisor=sandbox.supervisor())
            assert "reached" not in result.output and "Connection refused" in result.output
        finally:
            sandbox.close()
    finally:
        service.close()


def test_what_allows_a_denied_unconfined_call_names_every_flag_it_takes():
    from agentcli.agent.approval import what_allows

    def call(sandbox: str) -> Any:
        return rows_like(sandbox=sandbox, kind="shell")

    assert what_allows(call("outside"), "full-auto") == "--sandbox off"
    assert what_allows(call("outside"), "ask") == "--sandbox off --approval full-auto"
    assert what_allows(call("unavailable"), "auto-edit") == (
        "installing bubblewrap and --approval full-auto, or --sandbox off --approval full-auto")
    assert what_allows(call("workspace-write"), "ask") == "--approval full-auto"


def rows_like(**fields: Any) -> Any:
    """A stand-in for a ToolCallRecord with just ``fields``."""
    from types import SimpleNamespace

    return SimpleNamespace(**fields)
