"""Security issue 8, item 2: nothing a command starts outlives it, even when it kills its
supervisor (``kill -9 $PPID``) and leaves children behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import alive

from agentcli.agent.sandbox.handle import ShellSandbox, shell_sandbox
from agentcli.agent.tools import reaper
from agentcli.agent.tools.shell import run_command

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def read_pids(pidfile: Path, count: int, seconds: float = 5.0) -> list[int]:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        words = pidfile.read_text().split() if pidfile.exists() else []
        if len(words) >= count and all(w.isdigit() for w in words[:count]):
            return [int(w) for w in words[:count]]
        time.sleep(0.02)
    raise AssertionError(f"{pidfile} never held {count} pids")


def sleepers(marker: str) -> list[int]:
    """Pids of our processes whose command line holds ``marker``."""
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


# The long sleep is unique to this test process, so that the check below never sees
# another test run's sleeper (several suites may run on one machine at once).
LONG_SLEEP = f"sleep 321.{os.getpid()}"
ATTACK = f"kill -9 $PPID; (sleep 1; echo late >> late.txt) & {LONG_SLEEP} & echo $! > pids; " \
         "setsid sh -c 'sleep 1; echo late >> late2.txt' & echo $! >> pids"


def test_a_command_that_kills_its_supervisor_leaves_nothing_behind(tmp_path: Path) -> None:
    run_command(ATTACK, tmp_path, timeout=30)
    for pid in read_pids(tmp_path / "pids", 2):
        assert not alive(pid)
    assert not sleepers(LONG_SLEEP)
    time.sleep(1.5)
    assert not (tmp_path / "late.txt").exists() and not (tmp_path / "late2.txt").exists()


def test_escapees_are_ended_even_when_the_attack_is_the_first_command(tmp_path: Path) -> None:
    # A fresh process (nothing set up before), as agentcli is when it starts.
    script = textwrap.dedent(f"""
        from pathlib import Path
        from agentcli.agent.tools.shell import run_command
        run_command({ATTACK!r}, Path({str(tmp_path)!r}), timeout=30)
        print("returned", flush=True)
        import time; time.sleep(1.5)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.stdout == "returned\n", done.stderr
    assert not sleepers(LONG_SLEEP)
    assert not (tmp_path / "late.txt").exists() and not (tmp_path / "late2.txt").exists()


def test_a_normal_command_leaves_other_children_alone(tmp_path: Path) -> None:
    mine = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    time.sleep(0.2)  # started before the command, as the children agentcli may own are
    try:
        assert run_command("echo hi", tmp_path, timeout=30).output == "hi\n"
        assert alive(mine.pid)
    finally:
        mine.kill()
        mine.wait()


def test_sweep_is_harmless_with_nothing_to_do() -> None:
    assert reaper.sweep(None) == []


def _is_subreaper() -> bool:
    import ctypes

    flag = ctypes.c_int(0)
    ctypes.CDLL(None).prctl(37, ctypes.byref(flag), 0, 0, 0)  # PR_GET_CHILD_SUBREAPER
    return flag.value == 1


def test_a_forked_child_becomes_a_subreaper_of_its_own() -> None:
    # The kernel does not pass the attribute on through fork; the cached answer must not either.
    assert reaper.become_subreaper() and _is_subreaper()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        ok = False
        try:
            ok = not _is_subreaper() and reaper.become_subreaper() and _is_subreaper()
        finally:
            os._exit(0 if ok else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0


# -- the same inside a sandbox (issue 19): pids there are the pid namespace's --------------

sandboxed = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap (bwrap)")


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[ShellSandbox]:
    box = shell_sandbox("workspace-write", False, tmp_path, [])
    try:
        yield box
    finally:
        box.close()


@sandboxed
def test_in_a_sandbox_a_command_that_kills_its_supervisor_leaves_nothing_behind(tmp_path, sandbox):
    # the command supervisor is killed: what it leaves is swept by the sandbox's pid namespace
    run_command(ATTACK, tmp_path, timeout=30, supervisor=sandbox.supervisor())
    assert not sleepers(LONG_SLEEP)
    time.sleep(1.5)
    assert not (tmp_path / "late.txt").exists() and not (tmp_path / "late2.txt").exists()
    assert run_command("echo next", tmp_path, timeout=10, supervisor=sandbox.supervisor()).output == "next\n"


@sandboxed
def test_in_a_sandbox_killing_both_supervisors_ends_the_whole_sandbox(tmp_path, sandbox):
    attack = (f"kill -9 $(cut -d' ' -f4 /proc/$PPID/stat) $PPID; {LONG_SLEEP} & "
              "setsid sh -c 'sleep 1; echo late > late.txt' & sleep 0.2")
    result = run_command(attack, tmp_path, timeout=30, supervisor=sandbox.supervisor())
    assert result.exit_code == 128 + 9  # its supervisor vanished without a report
    assert not sleepers(LONG_SLEEP)
    time.sleep(1.2)
    assert not (tmp_path / "late.txt").exists()
    # the next command gets a new sandbox
    assert run_command("echo next", tmp_path, timeout=10, supervisor=sandbox.supervisor()).output == "next\n"
