"""Imported once by the local workers' forkserver: what a scripted run would import itself.

Each task process is forked from the forkserver, so whatever is imported here is already
in memory in every task; what is not is imported again by each (the ``openai`` SDK alone
costs ~0.5 s of CPU). Names a given install lacks (``httpx`` or ``httpx2``...) are skipped.
"""

from __future__ import annotations

import importlib

MODULES = (
    "agentcli.cli.app", "agentcli.cli.commands.run", "agentcli.cli.session_run", "agentcli.cli.driver",
    "agentcli.cli.worker", "agentcli.cli.startup", "agentcli.cli.render.events",
    "agentcli.cli.render.progress",
    "agentcli.agent.runner", "agentcli.agent.loop", "agentcli.agent.model.client", "agentcli.agent.scouts",
    "agentcli.agent.tools.registry", "agentcli.agent.tools.read_file", "agentcli.agent.tools.list_files",
    "agentcli.agent.tools.search", "agentcli.agent.tools.write_file", "agentcli.agent.tools.edit_file",
    "agentcli.agent.tools.run_shell", "agentcli.agent.tools.update_plan", "agentcli.agent.tools.scout",
    "agentcli.agent.history.tracker", "agentcli.agent.pricing", "agentcli.agent.budget",
    "agentcli.agent.system_prompt", "agentcli.session.directory", "openai", "tenacity", "platformdirs",
    "httpx", "httpcore", "httpx2", "httpcore2", "h11", "anyio.streams.tls", "truststore",
    "concurrent.futures.thread", "agentcli.agent.secrets", "stringprep", "typer._click.decorators",
)

for _name in MODULES:
    try:
        importlib.import_module(_name)
    except ImportError:
        pass
