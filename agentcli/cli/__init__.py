"""The interface: typer commands, rendering and JSON events."""
