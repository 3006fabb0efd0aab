"""The sandbox's policy, bwrap's command line built from it, and the notes a refused command
gets — plain functions, no sandbox started (tests/test_sandbox.py runs real ones)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from agent_harness import agentcli

from agentcli.agent.sandbox.bubblewrap import Bubblewrap
from agentcli.agent.sandbox.notes import sandbox_note
from agentcli.agent.sandbox.policy import SandboxPolicy


@pytest.fixture
def home() -> Iterator[Path]:
    """A folder where a sandbox shows the host's files (not under /tmp or /dev, which it replaces)."""
    folder = Path(tempfile.mkdtemp(prefix="agentcli-policy-", dir="/var/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _after(args: list[str], first: list[str], then: list[str]) -> bool:
    """Whether the option ``then`` comes after ``first`` in ``args``."""
    def at(option: list[str]) -> int:
        return next(i for i in range(len(args)) if args[i:i + len(option)] == option)
    return at(first) < at(then)


def test_the_workspace_is_bound_after_the_fresh_dev_and_tmp_and_before_what_it_protects(tmp_path, home):
    root = tmp_path / "ws"
    (root / ".git").mkdir(parents=True)
    secret = home / ".ssh"
    secret.mkdir()
    netrc = home / ".netrc"
    netrc.write_text("x")
    policy = SandboxPolicy("workspace-write", root, read_only=(root / ".git", root / "absent"),
                           hidden=(secret, netrc, home / ".aws", tmp_path / "under-dev")).present()
    args = Bubblewrap().wrap(policy, ["python", "supervisor.py"])
    bind = ["--bind", str(root), str(root)]
    assert _after(args, ["--dev", "/dev"], bind) and _after(args, ["--tmpfs", "/tmp"], bind)
    assert _after(args, bind, ["--ro-bind", str(root / ".git"), str(root / ".git")])
    assert str(root / "absent") not in args  # a mount needs something there
    assert str(tmp_path / "under-dev") not in args  # the fresh /dev hides it already
    assert _after(args, bind, ["--tmpfs", str(secret)]) and ["--remount-ro", str(secret)] == \
        args[args.index("--remount-ro"):args.index("--remount-ro") + 2]
    at = args.index(str(netrc))
    assert ["--ro-bind", "/dev/null", str(netrc)] == args[at - 2:at + 1]
    assert "--unshare-net" in args and "--die-with-parent" in args and args[-3:] == ["--", "python",
                                                                                     "supervisor.py"]
    assert ["--cap-drop", "ALL"] == args[args.index("--cap-drop"):args.index("--cap-drop") + 2]


def test_read_only_mode_and_network(tmp_path):
    policy = SandboxPolicy("read-only", tmp_path, network=True)
    args = Bubblewrap().wrap(policy, ["sh"])
    assert ["--ro-bind", str(tmp_path), str(tmp_path)] == args[args.index(str(tmp_path)) - 1:
                                                              args.index(str(tmp_path)) + 2]
    assert "--unshare-net" not in args and "--unshare-pid" in args
    assert policy.describe() == "it can write nothing but a private /tmp, and it may use the network"


def test_a_hidden_folder_holding_the_workspace_is_not_hidden(home):
    root = home / "project"
    root.mkdir()
    (home / ".ssh").mkdir()
    args = Bubblewrap().wrap(SandboxPolicy("workspace-write", root, hidden=(home, home / ".ssh")).present(),
                             ["sh"])
    pairs = [args[i:i + 2] for i in range(len(args))]
    assert str(home) not in args and ["--tmpfs", str(home / ".ssh")] in pairs


@pytest.mark.parametrize(("output", "code", "noted"), [
    ("touch: cannot touch '/etc/x': Read-only file system\n", 1, "a write outside"),
    ("touch: cannot touch '/etc/x': Read-only file system\nok\n", 0, "a write outside"),  # a script went on
    ("curl: (6) Could not resolve host: example.com\n", 6, "the network is off"),
    ("curl: (6) Could not resolve host: example.com\n", 0, None),  # succeeded after all: no guess
    ("bash: /etc/shadow: Permission denied\n", 1, "access to a path outside"),
    ("bash: ./script.sh: Permission denied\n", 126, None),  # no path outside: not the sandbox
    ("all good\n", 0, None),
])
def test_notes_only_when_the_output_shows_the_sandbox_refused(tmp_path, output, code, noted):
    note = sandbox_note(SandboxPolicy("workspace-write", tmp_path), output, code)
    if noted is None:
        assert note is None
    else:
        assert note is not None and noted in note and '"sandbox": false' in note
        assert f"it can write only inside {tmp_path.resolve()}" in note


def test_no_note_without_a_sandbox(tmp_path):
    assert sandbox_note(SandboxPolicy("off", tmp_path), "Read-only file system", 1) is None


def test_a_bad_sandbox_mode_or_network_value_is_one_clear_line(workspace, env, openai_server, tmp_path):
    run = agentcli(["new", "x", "-p", "--sandbox", "loose", "--base-url", openai_server.base_url], env=env,
                   cwd=workspace)
    assert run.code == 2
    assert run.stderr.strip().splitlines()[-1] == ("agentcli: sandbox: unknown mode 'loose' (one of "
                                                   "workspace-write, read-only, off)")
    config = Path(env["XDG_CONFIG_HOME"]) / "agentcli" / "config.toml"
    config.write_text('network = "yes"\n')
    run = agentcli(["new", "x", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 2 and f"{config}: network must be true or false" in run.stderr
