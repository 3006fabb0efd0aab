"""Where the user's own agentcli configuration lives (``platformdirs``: ``~/.config/agentcli``)."""

from __future__ import annotations

from pathlib import Path


def user_config_path() -> Path:
    """The user-wide config file (it may not exist)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir("agentcli")) / "config.toml"
