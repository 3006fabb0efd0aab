"""agentcli: a command-line coding agent whose every session is a durable SQLite file."""

__version__ = "0.1.0"
