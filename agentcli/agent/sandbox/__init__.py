"""The OS sandbox every ``run_shell`` command runs in (SPEC §2b).

The parts, each its own module, none importing a UI library:

- :mod:`.policy` — :class:`~.policy.SandboxPolicy`, *what* a command may touch: the mode
  (``workspace-write``, ``read-only``, ``off``), the writable workspace root and its
  read-only subpaths, the hidden credential paths, the network, a private ``/tmp``; and
  :class:`~.policy.Confinement`, how one call runs.
- :mod:`.backend` — the small interface a platform's sandbox implements (is one
  available here, and the command line that runs a program inside a policy), and the
  backend of this platform.
- :mod:`.bubblewrap` — the Linux backend: ``bwrap``, detected once (per boot, cached).
- :mod:`.handle` — :class:`~.handle.ShellSandbox`, one session's sandbox: a long-lived
  shell supervisor inside one ``bwrap``, so that each command is one fork; closed with
  the session.
- :mod:`.notes` — the plain note a command that failed because of the sandbox gets.
- :mod:`.startup` — what a run says and refuses at its start.
"""
