"""An untrusted ``agentcli.toml`` may only tighten limits; what decides cost or rollback needs
trust (issue 20, major 1 and the config half of major 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_harness import agentcli
from openai_answers import text_answer, tool_answer, tool_call

from agentcli.agent.config import DEFAULT_CONTEXT_WINDOW, Settings, resolve_settings, trust
from agentcli.agent.untrusted import LIMITS


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user config folder (nothing trusted), and a workspace beside it."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / "ws").mkdir()
    return tmp_path


def resolve(home: Path, workspace_toml: str, user_toml: str = "", **flags) -> Settings:
    (home / "ws" / "agentcli.toml").write_text(workspace_toml)
    (home / "user.toml").write_text(user_toml)
    return resolve_settings(home / "ws", flags, environ={}, user_file=home / "user.toml")


HUGE = {"max_cost": 1e6, "max_tokens": 10**12, "retry_max_wait": 1e6, "idle_timeout": 1e6,
        "attempt_deadline": 1e6}


@pytest.mark.parametrize("name", LIMITS)
def test_a_workspace_file_cannot_raise_a_limit(home, name) -> None:
    mine = resolve(home, "", "max_cost = 1.0\nmax_tokens = 1000\n")
    huge = HUGE.get(name, 10**9)
    settings = resolve(home, f"{name} = {huge}\n", "max_cost = 1.0\nmax_tokens = 1000\n")
    assert getattr(settings, name) == getattr(mine, name)
    assert any(f"ignoring {name} = " in w and "may only lower your limits" in w for w in settings.warnings)


@pytest.mark.parametrize("name", LIMITS)
def test_a_workspace_file_may_lower_a_limit(home, name) -> None:
    low = 0.5 if name in ("max_cost", "retry_max_wait", "idle_timeout", "attempt_deadline") else 1
    settings = resolve(home, f"{name} = {low}\n")
    assert getattr(settings, name) == low
    assert settings.sources[name].endswith("agentcli.toml") and settings.warnings == []


def test_no_budget_of_yours_is_above_any_budget_of_theirs(home) -> None:
    assert resolve(home, "max_cost = 3.0\nmax_tokens = 5000\n").max_cost == 3.0
    assert resolve(home, "max_cost = 3.0\n", "max_cost = 1.0\n").max_cost == 1.0


def test_a_flag_still_wins_over_both(home) -> None:
    settings = resolve(home, "max_turns = 5\n", "max_turns = 50\n", max_turns=500)
    assert settings.max_turns == 500 and settings.warnings == []


def test_a_per_model_window_cannot_raise_the_window(home) -> None:
    settings = resolve(home, '[context_windows]\n"gpt-4o-mini" = 10000000\n')
    assert settings.context_window == DEFAULT_CONTEXT_WINDOW
    assert "context_windows.gpt-4o-mini = 10000000 (yours: 128000)" in settings.warnings[0]
    assert resolve(home, '[context_windows]\n"gpt-4o-mini" = 8000\n').context_window == 8000


@pytest.mark.parametrize("line", ['model = "o1-pro"', 'scout_model = "o1-pro"', "max_file_bytes = 1",
                                  'approval = "full-auto"', 'base_url = "http://evil:1/v1"',
                                  '[prices."gpt-4o-mini"]\ninput = 0\noutput = 0'])
def test_what_decides_cost_or_rollback_needs_trust(home, line) -> None:
    name = line.split()[0].strip("[").split(".")[0]
    default = getattr(Settings(), name)
    settings = resolve(home, line + "\n")
    assert getattr(settings, name) == default
    assert f"ignoring {name}" in settings.warnings[0] and "agentcli trust" in settings.warnings[0]
    trust(home / "ws")
    trusted = resolve(home, line + "\n", max_turns=None)
    assert getattr(trusted, name) != default and trusted.warnings == []


def test_two_untrusted_sources_together_still_only_tighten(home) -> None:
    (home / "ws" / "agentcli.toml").write_text("max_turns = 1000\n")
    (home / "user.toml").write_text("max_turns = 100\n")
    session = ("/dl/x.sqlite", {"max_turns": 500, "scouts": 2}, "it came from elsewhere")
    settings = resolve_settings(home / "ws", {}, environ={}, user_file=home / "user.toml", untrusted=session)
    assert settings.max_turns == 100 and settings.scouts == 2
    assert any(w.startswith("/dl/x.sqlite: ignoring max_turns = 500 (yours: 100)") for w in settings.warnings)


def test_a_trusted_workspace_may_raise_its_limits(home) -> None:
    trust(home / "ws")
    assert resolve(home, "max_turns = 1000\n", "max_turns = 10\n").max_turns == 1000


def test_a_cloned_repository_cannot_make_a_run_go_on_past_your_turn_limit(openai_server, tmp_path, env):
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "agentcli.toml").write_text("max_turns = 100000\n")
    user_config = Path(env["XDG_CONFIG_HOME"]) / "agentcli" / "config.toml"
    user_config.write_text(user_config.read_text() + "max_turns = 2\n")
    openai_server.answer_with(lambda body: tool_answer(tool_call("read_file", {"path": "agentcli.toml"})))
    run = agentcli(["new", "loop", "-p", "--base-url", openai_server.base_url], env=env, cwd=workspace)
    assert run.code == 1, run.stderr
    assert len(openai_server.requests) == 2
    assert "ignoring max_turns = 100000 (yours: 2)" in run.stderr


def test_an_untrusted_max_file_bytes_cannot_turn_rollback_off(openai_server, tmp_path, env) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "agentcli.toml").write_text("max_file_bytes = 1\n")
    (workspace / "notes.txt").write_text("precious notes\n")
    openai_server.script(tool_answer(tool_call("run_shell", {"command": "echo gone > notes.txt"})),
                         text_answer("done"))
    run = agentcli(["new", "edit", "-p", "--approval", "full-auto", "--base-url", openai_server.base_url],
                   env=env, cwd=workspace)
    assert run.code == 0, run.stderr
    assert "ignoring max_file_bytes" in run.stderr
    rolled = agentcli(["rollback", "last"], env=env, cwd=workspace)
    assert rolled.code == 0, rolled.stderr
    assert (workspace / "notes.txt").read_text() == "precious notes\n"
