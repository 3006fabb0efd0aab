"""run_shell's engine: output, exit codes, truncation, and no process outliving its owner."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from processes import alive, gone_within

from agentcli.agent.cancel import Cancelled, CancelToken
from agentcli.agent.tools.shell import OutputCapture, run_command


def _read_pid(pidfile: Path, seconds: float = 5.0) -> int:
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        if text.isdigit():  # echo writes the line in one write
            return int(text)
        time.sleep(0.02)
    raise AssertionError(f"{pidfile} was never written")


def test_output_and_exit_code(tmp_path: Path) -> None:
    result = run_command("echo hello; exit 3", tmp_path, timeout=10)
    assert result.exit_code == 3
    assert result.output == "hello\n"
    assert not result.timed_out and not result.truncated
    assert result.duration_ms >= 0


def test_stderr_is_merged_in_order(tmp_path: Path) -> None:
    result = run_command("echo one; echo two >&2; echo three", tmp_path, timeout=10)
    assert result.output == "one\ntwo\nthree\n"
    assert result.exit_code == 0


def test_runs_in_cwd_with_empty_stdin_and_given_env(tmp_path: Path) -> None:
    env = {"PATH": os.environ["PATH"], "GREETING": "hej"}
    result = run_command("pwd; cat; echo $GREETING", tmp_path, timeout=10, env=env)
    assert result.output == f"{tmp_path.resolve()}\nhej\n"


def test_unknown_command_is_a_normal_result(tmp_path: Path) -> None:
    result = run_command("no-such-command-xyz", tmp_path, timeout=10)
    assert result.exit_code == 127
    assert "not found" in result.output


def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    result = run_command(r"printf 'ok\377\n'", tmp_path, timeout=10)
    assert result.output == "ok\ufffd\n"


def test_huge_output_keeps_head_and_tail(tmp_path: Path) -> None:
    result = run_command("seq 1 200000", tmp_path, timeout=20, max_output_chars=1000)
    assert result.truncated
    assert result.output.startswith("1\n2\n3\n")
    assert result.output.endswith("199999\n200000\n")
    marker = re.search(r"\[\.\.\. (\d+) characters omitted \.\.\.\]", result.output)
    assert marker is not None
    total = len("".join(f"{n}\n" for n in range(1, 200001)))
    assert int(marker.group(1)) == total - 1000
    assert len(result.output) < 1100


def test_output_capture_decodes_split_multibyte_characters() -> None:
    capture = OutputCapture(100)
    data = "é€".encode()
    for byte in data:
        capture.feed(bytes([byte]))
    assert capture.result() == ("é€", False)


def test_timeout_kills_command_and_background_child(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    result = run_command(f"sleep 100 & echo $! > {pidfile}; wait", tmp_path, timeout=0.5)
    assert result.timed_out and result.exit_code is None
    assert time.monotonic() - started < 10  # not the 100 s of the child (a generous bound: no benchmark)
    assert gone_within(_read_pid(pidfile), 2)


def test_leftover_background_process_ends_with_the_command(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    started = time.monotonic()
    result = run_command(f"sleep 100 & echo $! > {pidfile}; echo started", tmp_path, timeout=30)
    assert result.exit_code == 0 and result.output == "started\n"
    assert time.monotonic() - started < 10  # not the 100 s of the child (a generous bound: no benchmark)
    assert gone_within(_read_pid(pidfile), 2)


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_process_that_left_the_group_is_ended_too(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    result = run_command(f"setsid sleep 100 & echo $! > {pidfile}; sleep 0.2", tmp_path, timeout=30)
    assert result.exit_code == 0
    assert gone_within(_read_pid(pidfile), 2)


def test_keyboard_interrupt_kills_the_group_and_reraises(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_command(f"sleep 100 & echo $! > {pidfile}; wait", tmp_path, timeout=30)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert gone_within(_read_pid(pidfile), 2)


def _group_gone_within(pgid: int, seconds: float) -> bool:
    until = time.monotonic() + seconds
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= until:
            return False
        time.sleep(0.02)


def test_cancel_token_stops_the_command_and_its_group_at_once(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    token = CancelToken()
    timer = threading.Timer(0.3, token.cancel, args=("Ctrl-C",))
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(Cancelled, match="Ctrl-C"):
            run_command(f"echo $$ > {pidfile}; sleep 30", tmp_path, timeout=60, cancel=token)
    finally:
        timer.cancel()
        token.close()
    assert time.monotonic() - started < 3
    assert _group_gone_within(_read_pid(pidfile), 2), "a process of the command's group lived on"


def test_cancelled_token_runs_nothing(tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_command(f"touch {tmp_path / 'ran'}", tmp_path, timeout=10, cancel=token)
    assert not (tmp_path / "ran").exists()


def test_command_dies_when_agentcli_is_sigkilled(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from agentcli.agent.tools.shell import run_command
        run_command("sleep 300 & echo $! > {pidfile}; wait", Path({str(tmp_path)!r}), timeout=60)
        """
    )
    owner = subprocess.Popen([sys.executable, "-c", script])
    try:
        sleeper = _read_pid(pidfile)
        assert alive(sleeper)
        owner.send_signal(signal.SIGKILL)
        owner.wait(timeout=5)
        assert gone_within(sleeper, 2), "the command outlived the killed agentcli"
    finally:
        owner.kill()
        owner.wait()
