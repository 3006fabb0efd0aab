"""The typer commands, one module per group."""
