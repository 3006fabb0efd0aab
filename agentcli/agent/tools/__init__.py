"""The tools offered to the model: one module per tool, a registry, the shell runner."""
