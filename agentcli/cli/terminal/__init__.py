"""The interactive terminal: prompt-toolkit input, rich output, fed by the agent's events.

The agent runs on a worker thread and never touches the screen; everything here runs
on the main thread, except :class:`~agentcli.cli.terminal.view.TerminalView`, which is
called with each event (serialized) and only prints.
"""
