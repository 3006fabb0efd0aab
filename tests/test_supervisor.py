"""The long-lived shell supervisor: shared by threads, replaced when killed, gone with agentcli."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import alive, gone_within

from agentcli.agent.sandbox.handle import ShellSandbox, shell_sandbox
from agentcli.agent.tools import supervisor_client
from agentcli.agent.tools.shell import run_command
from agentcli.agent.tools.supervisor_client import Channel, Request, launch

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")

PARENT_OF = "cut -d' ' -f4 /proc/{}/stat"  # a process's parent pid, in a command


def current_supervisor(tmp_path: Path) -> int:
    """The supervisor's pid, starting one if none runs."""
    assert run_command("true", tmp_path, timeout=10).exit_code == 0
    pid = supervisor_client.server_pid()
    assert pid is not None and alive(pid)
    return pid


def finish(channel: Channel, seconds: float = 10.0) -> None:
    """Read the channel until the command supervisor's report (or its end)."""
    until = time.monotonic() + seconds
    while not channel.finished and time.monotonic() < until:
        channel.read()


def test_threads_run_commands_at_the_same_time(tmp_path: Path) -> None:
    current_supervisor(tmp_path)
    results: dict[int, str] = {}

    def run(n: int) -> None:
        result = run_command(f"sleep 0.6; echo {n}; exit {n}", tmp_path, timeout=30)
        results[n] = f"{result.output.strip()} {result.exit_code}"

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {n: f"{n} {n}" for n in range(4)}
    assert time.monotonic() - started < 2.0  # together, not one after another (4 x 0.6 s)


def test_many_short_commands_from_threads_keep_their_own_output(tmp_path: Path) -> None:
    failures: list[str] = []

    def run(n: int) -> None:
        for k in range(8):
            result = run_command(f"echo {n}-{k}; echo err{n} >&2; exit {k}", tmp_path, timeout=30)
            if (result.output, result.exit_code) != (f"{n}-{k}\nerr{n}\n", k):
                failures.append(f"{n}-{k}: {result}")

    threads = [threading.Thread(target=run, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []


def test_the_next_command_starts_a_new_supervisor_when_it_was_killed(tmp_path: Path) -> None:
    first = current_supervisor(tmp_path)
    os.kill(first, signal.SIGKILL)
    assert gone_within(first, 5)
    result = run_command("echo again", tmp_path, timeout=10)
    assert (result.output, result.exit_code) == ("again\n", 0)
    assert supervisor_client.server_pid() not in (None, first)


def test_a_command_may_kill_the_supervisor_and_still_finish(tmp_path: Path) -> None:
    first = current_supervisor(tmp_path)
    command = f"kill -9 $({PARENT_OF.format('$PPID')}); sleep 0.2; echo finished"
    result = run_command(command, tmp_path, timeout=10)
    assert (result.output, result.exit_code) == ("finished\n", 0)  # its own supervisor lived on
    assert gone_within(first, 5)
    assert run_command("echo next", tmp_path, timeout=10).output == "next\n"


def test_a_running_command_outlives_the_supervisor_being_replaced(tmp_path: Path) -> None:
    first = current_supervisor(tmp_path)
    zombies_before = our_zombies()
    results = []
    slow = threading.Thread(target=lambda: results.append(run_command("sleep 0.8; echo slow", tmp_path,
                                                                      timeout=30)))
    slow.start()
    time.sleep(0.3)
    os.kill(first, signal.SIGKILL)
    assert gone_within(first, 5)
    assert run_command("echo quick", tmp_path, timeout=10).output == "quick\n"
    slow.join(30)
    assert (results[0].output, results[0].exit_code) == ("slow\n", 0)
    # its command supervisor came back to us when the supervisor died: a later command
    # collects it once it has exited (it may still be exiting at the first)
    for _ in range(50):
        run_command("true", tmp_path, timeout=10)
        if not our_zombies() - zombies_before:
            break
    assert not our_zombies() - zombies_before


def our_zombies() -> set[int]:
    """This process's children that have exited and wait to be collected."""
    children: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        with contextlib.suppress(OSError):
            children.update(int(p) for p in (task / "children").read_text().split())
    return {pid for pid in children if not alive(pid)}


def test_a_stuck_supervisor_is_replaced(tmp_path: Path) -> None:
    stuck = current_supervisor(tmp_path)
    os.kill(stuck, signal.SIGSTOP)
    try:
        result = run_command("echo despite", tmp_path, timeout=30)  # after a few seconds' wait
        assert (result.output, result.exit_code) == ("despite\n", 0)
        assert supervisor_client.server_pid() not in (None, stuck)
        assert gone_within(stuck, 5)
    finally:
        if alive(stuck):
            os.kill(stuck, signal.SIGKILL)


def test_sigterm_to_the_supervisor_stops_its_commands(tmp_path: Path) -> None:
    server = current_supervisor(tmp_path)
    pidfile = tmp_path / "pid"
    timer = threading.Timer(0.5, os.kill, args=(server, signal.SIGTERM))
    timer.start()
    try:
        result = run_command(f"sleep 60 & echo $! > {pidfile}; wait", tmp_path, timeout=30)
    finally:
        timer.cancel()
    assert result.exit_code == 128 + signal.SIGKILL and not result.timed_out
    assert gone_within(int(pidfile.read_text()), 2)
    assert gone_within(server, 5)
    assert run_command("echo next", tmp_path, timeout=10).output == "next\n"


def test_the_supervisor_exits_when_agentcli_is_sigkilled(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from agentcli.agent.tools import supervisor_client
        from agentcli.agent.tools.shell import run_command
        run_command("true", Path({str(tmp_path)!r}), timeout=10)
        print(supervisor_client.server_pid(), flush=True)
        time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        server = int(owner.stdout.readline())
        assert alive(server)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=5)
        assert gone_within(server, 2), "the supervisor outlived the killed agentcli"
    finally:
        owner.kill()
        owner.communicate()


def test_a_forked_child_does_not_keep_the_supervisor_alive(tmp_path: Path) -> None:
    # The child of os.fork closes its copy of the lifeline, so the parent's death still ends it.
    script = textwrap.dedent(f"""
        import os, time
        from pathlib import Path
        from agentcli.agent.tools import supervisor_client
        from agentcli.agent.tools.shell import run_command
        run_command("true", Path({str(tmp_path)!r}), timeout=10)
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os._exit(0)
        print(supervisor_client.server_pid(), child, flush=True)
        time.sleep(60)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        assert owner.stdout is not None
        server, child = (int(word) for word in owner.stdout.readline().split())
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=5)
        assert alive(child)
        assert gone_within(server, 2), "a forked child kept the supervisor's lifeline open"
    finally:
        if child:
            os.kill(child, signal.SIGKILL)  # it holds the owner's stdout too
        owner.kill()
        owner.communicate()
        with contextlib.suppress(ChildProcessError):  # re-parented to us, a subreaper
            os.waitpid(child, 0)


def test_a_forked_child_runs_commands_with_a_supervisor_of_its_own(tmp_path: Path) -> None:
    parent_server = current_supervisor(tmp_path)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        ok = False
        try:
            result = run_command("echo child", tmp_path, timeout=10)
            ok = result.output == "child\n" and supervisor_client.server_pid() not in (None, parent_server)
        finally:
            os._exit(0 if ok else 1)
    _pid, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert run_command("echo parent", tmp_path, timeout=10).output == "parent\n"
    assert supervisor_client.server_pid() == parent_server


def test_a_command_gets_no_descriptor_but_stdin_stdout_and_stderr(tmp_path: Path) -> None:
    listing = run_command("ls /proc/$$/fd; exit", tmp_path, timeout=10)  # bash's, not ls's own
    assert listing.output.split() == ["0", "1", "2"]


def test_the_supervisors_hold_none_of_agentclis_environment(tmp_path: Path) -> None:
    server = current_supervisor(tmp_path)
    command = f"cat /proc/$PPID/environ /proc/{server}/environ | tr '\\0' '\\n'"
    result = run_command(command, tmp_path, timeout=10, env={"PATH": os.environ["PATH"]})
    assert result.exit_code == 0
    assert [line for line in result.output.splitlines() if not line.startswith(("LD_", "DYLD_"))] == []


def test_a_missing_directory_is_an_error_as_with_subprocess(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        run_command("true", tmp_path / "missing", timeout=10)
    assert run_command("echo fine", tmp_path, timeout=10).output == "fine\n"


def test_the_report_says_when_nothing_is_left(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    command = f"setsid sleep 100 & echo $! > {tmp_path / 'pid'}"
    try:
        with launch(Request("/bin/sh", command, tmp_path, dict(os.environ), 1.0), write_end) as channel:
            os.close(write_end)
            finish(channel)
            assert channel.report is not None and channel.report.status == 0 and channel.report.clean
        assert not alive(int((tmp_path / "pid").read_text()))  # ended by the command supervisor alone
    finally:
        os.close(read_end)


def test_no_report_when_the_command_kills_its_supervisor(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        request = Request("/bin/sh", "kill -9 $PPID", tmp_path, dict(os.environ), 1.0)
        with launch(request, write_end) as channel:
            os.close(write_end)
            finish(channel)
            assert channel.finished and channel.report is None  # agentcli then sweeps itself
    finally:
        os.close(read_end)


def test_escapees_are_ended_when_a_command_kills_both_supervisors(tmp_path: Path) -> None:
    server = current_supervisor(tmp_path)
    marker = f"sleep 322.{os.getpid()}"
    attack = (f"kill -9 $({PARENT_OF.format('$PPID')}) $PPID; {marker} & echo $! > pids; "
              f"env -i setsid sh -c 'echo $$ >> pids; sleep 1; echo late > late.txt' & sleep 0.2")
    result = run_command(attack, tmp_path, timeout=30)
    assert result.exit_code == 128 + signal.SIGKILL  # its supervisor vanished without a report
    assert gone_within(server, 5)
    for pid in (tmp_path / "pids").read_text().split():
        assert not alive(int(pid))
    time.sleep(1.2)
    assert not (tmp_path / "late.txt").exists()
    assert run_command("echo next", tmp_path, timeout=10).output == "next\n"


def test_the_sweep_after_a_first_command_spares_the_supervisor(tmp_path: Path) -> None:
    # A fresh process: the supervisor starts with this command, so it is a child of
    # agentcli as recent as the command's escapees, yet the sweep must leave it alone.
    script = textwrap.dedent(f"""
        from pathlib import Path
        from agentcli.agent.tools import supervisor_client
        from agentcli.agent.tools.shell import run_command
        root = Path({str(tmp_path)!r})
        run_command("kill -9 $PPID; setsid sleep 100 & echo $! > pid", root, timeout=30)
        first = supervisor_client.server_pid()
        print(first, run_command("echo next", root, timeout=10).output.strip(),
              supervisor_client.server_pid() == first, flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    server, next_output, same = done.stdout.split()
    assert (next_output, same) == ("next", "True"), done.stderr
    assert not alive(int((tmp_path / "pid").read_text()))
    assert gone_within(int(server), 2)  # its agentcli exited


def test_a_shell_that_cannot_start_is_reported_like_a_missing_command(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        with launch(Request(str(tmp_path / "no-shell"), "true", tmp_path, {}, 1.0), write_end) as channel:
            os.close(write_end)
            finish(channel)
            assert channel.report is not None and channel.report.status == 127
        assert b"agentcli: cannot start" in os.read(read_end, 4096)
    finally:
        os.close(read_end)


def test_a_command_starts_with_no_signal_blocked_or_ignored(tmp_path: Path) -> None:
    # Python ignores SIGPIPE and SIGXFSZ; glibc's posix_spawn would ignore its own two.
    result = run_command("grep -E '^Sig(Blk|Ign)' /proc/self/status", tmp_path, timeout=10)
    assert result.output.split() == ["SigBlk:", "0" * 16, "SigIgn:", "0" * 16]


# -- a supervisor inside a sandbox (issue 19) ----------------------------------------------

sandboxed = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (bwrap)")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[ShellSandbox]:
    box = shell_sandbox("workspace-write", False, tmp_path, [])
    try:
        yield box
    finally:
        box.close()


def marked(marker: str) -> list[int]:
    """Host pids of our processes whose command line holds ``marker``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker.encode() in (entry / "cmdline").read_bytes() and alive(int(entry.name)):
                    found.append(int(entry.name))
    return found


@sandboxed
def test_sandboxed_commands_from_threads_run_at_the_same_time(tmp_path, sandbox):
    run_command("true", tmp_path, timeout=30, supervisor=sandbox.supervisor())
    results: dict[int, str] = {}

    def run(n: int) -> None:
        result = run_command(f"sleep 0.6; echo {n}; exit {n}", tmp_path, timeout=30,
                             supervisor=sandbox.supervisor())
        results[n] = f"{result.output.strip()} {result.exit_code}"

    threads = [threading.Thread(target=run, args=(n,)) for n in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {n: f"{n} {n}" for n in range(4)}
    assert time.monotonic() - started < 2.0


@sandboxed
def test_a_sandbox_started_by_a_turns_thread_outlives_the_thread(tmp_path, sandbox):
    # The parent-death signal of --die-with-parent follows the thread that started bwrap.
    first = threading.Thread(target=run_command, args=("echo kept > /tmp/k", tmp_path),
                             kwargs={"timeout": 30, "supervisor": sandbox.supervisor()})
    first.start()
    first.join(30)
    time.sleep(0.3)
    assert run_command("cat /tmp/k", tmp_path, timeout=30, supervisor=sandbox.supervisor()).output == "kept\n"


@sandboxed
def test_channel_pids_are_host_pids(tmp_path, sandbox):
    read_end, write_end = os.pipe()
    supervisor = sandbox.supervisor()
    run_command("true", tmp_path, timeout=30, supervisor=supervisor)
    try:
        request = Request("/bin/sh", "echo $PPID; sleep 5", tmp_path, {}, 1.0)
        with supervisor.launch(request, write_end) as channel:
            os.close(write_end)
            inside = int(os.read(read_end, 100).split()[0])
            assert channel.pid != inside  # the namespace's pid, seen from the host
            status = Path(f"/proc/{channel.pid}/status").read_text()
            assert f"NSpid:\t{channel.pid}\t{inside}" in status
            assert os.readlink(f"/proc/{channel.pid}/ns/pid") == channel.via.namespace
            assert channel.via.namespace != os.readlink("/proc/self/ns/pid")
    finally:
        os.close(read_end)


@sandboxed
def test_the_sandboxs_supervisors_hold_none_of_agentclis_environment(tmp_path, sandbox):
    command = "cat /proc/$PPID/environ /proc/2/environ /proc/1/environ | tr '\\0' '\\n'"
    result = run_command(command, tmp_path, timeout=10, env={"PATH": os.environ["PATH"]},
                         supervisor=sandbox.supervisor())
    assert result.exit_code == 0
    # bwrap sets PWD=/ for what it starts (its --chdir /); nothing else
    left = [line for line in result.output.splitlines() if not line.startswith(("LD_", "DYLD_", "PWD=/"))]
    assert left == []


@sandboxed
def test_close_ends_the_sandbox_and_its_tmp(tmp_path, sandbox):
    run_command("echo x > /tmp/k", tmp_path, timeout=10, supervisor=sandbox.supervisor())
    outer = sandbox.supervisor().pid()
    assert outer is not None and alive(outer)
    sandbox.close()
    assert gone_within(outer, 5)
    result = run_command("cat /tmp/k", tmp_path, timeout=10, supervisor=sandbox.supervisor())
    assert "No such file" in result.output  # a new sandbox, a new /tmp


@sandboxed
def test_a_stuck_sandbox_is_replaced_and_ends_entirely(tmp_path, sandbox):
    supervisor = sandbox.supervisor()
    mark = f"sleep 333.{os.getpid()}"
    read_end, write_end = os.pipe()
    with supervisor.launch(Request("/bin/sh", f"{mark}", tmp_path, {}, 1.0), write_end) as channel:
        os.close(write_end)
        os.close(read_end)
        stuck = channel.via.inner
        assert stuck is not None
        os.kill(stuck, signal.SIGSTOP)
        try:
            result = run_command("echo despite", tmp_path, timeout=30, supervisor=supervisor)
            assert (result.output, result.exit_code) == ("despite\n", 0)
            assert gone_within(stuck, 5)  # killed with the whole old sandbox (--die-with-parent)
            until = time.monotonic() + 5
            while marked(mark) and time.monotonic() < until:
                time.sleep(0.05)
            assert not marked(mark)
        finally:
            with contextlib.suppress(OSError):
                os.kill(stuck, signal.SIGKILL)


@sandboxed
def test_the_sandbox_dies_with_a_sigkilled_agentcli(tmp_path):
    mark = f"sleep 334.{os.getpid()}"
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from agentcli.agent.sandbox.handle import shell_sandbox
        from agentcli.agent.tools.shell import run_command
        root = Path({str(tmp_path)!r})
        box = shell_sandbox("workspace-write", False, root, [])
        run_command("echo up > up.txt; {mark} & {mark}", root, timeout=60, supervisor=box.supervisor())
    """)
    owner = subprocess.Popen([sys.executable, "-c", script])
    try:
        until = time.monotonic() + 20
        while len(marked(mark)) < 2 and time.monotonic() < until:
            time.sleep(0.05)
        assert len(marked(mark)) == 2
        sandboxes = [pid for pid in marked("--die-with-parent") if str(tmp_path).encode()
                     in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert sandboxes
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=5)
        until = time.monotonic() + 5
        while (marked(mark) or any(alive(pid) for pid in sandboxes)) and time.monotonic() < until:
            time.sleep(0.05)
        assert not marked(mark), "a command outlived the killed agentcli"
        assert not any(alive(pid) for pid in sandboxes), "the sandbox outlived the killed agentcli"
    finally:
        owner.kill()
        owner.wait()
