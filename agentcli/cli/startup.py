"""How a process that starts an agent starts fast (issue 15).

Most of a start is importing the ``openai`` SDK: :func:`warm_up` begins it on a thread at
once, while the command line is parsed and the session file is made. Starting makes a few
hundred thousand long-lived objects (the SDK's models, our classes) and next to no
garbage, so the garbage collector is held off meanwhile (:func:`hold_collector`): it would
walk them again and again, ~5-10% of a start. :func:`started` turns it back on once the
agent is built, with what starting made frozen out of its sight for good (``gc.freeze``):
it is never garbage, and a full collection of it costs ~60 ms.
"""

from __future__ import annotations

import gc


def warm_up(module: str) -> None:
    """Import ``module`` on a daemon thread; whoever imports it later waits for this one."""
    import importlib
    import threading

    threading.Thread(target=importlib.import_module, args=(module,), name="agentcli-warm-up",
                     daemon=True).start()


def hold_collector() -> None:
    """Keep the garbage collector off until :func:`started` (a real process's start only)."""
    gc.disable()


def started() -> None:
    """The agent is built: if the collector was held off, freeze what starting made and
    turn it back on. Does nothing when nobody held it (tests, embedding)."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()
