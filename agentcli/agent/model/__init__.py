"""The model client: one Chat Completions attempt, streamed replies parsed once."""
