"""The agent: orchestrator loop, tools, workspace and model client (no UI imports)."""
