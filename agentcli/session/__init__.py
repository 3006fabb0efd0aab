"""The session layer: the coding-session tables and their operations."""
