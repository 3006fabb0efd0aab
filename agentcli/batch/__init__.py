"""Many sessions at once: a durable batch of tasks, run by local workers or on Ray.

The batch is a durable object like a session: one SQLite file (``batchfile``) lists the
tasks, their attempts, their session files and their outcomes. Each task is an ordinary
``agentcli`` session run as a process of its own (``launch``), so resume, the sandbox and
approvals hold exactly as for one session. Layers, each knowing only those before it:
``tasks`` (the JSONL task file) → ``batchfile`` (the batch's tables: all of its SQL) →
``repos`` (clones and work trees) → ``launch`` / ``outcome`` (one attempt, and what its
session file says) → ``scheduler`` (local workers) and ``ray_runner`` → ``report``.
Nothing here imports typer, rich or prompt-toolkit.
"""
