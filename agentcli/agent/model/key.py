"""The API key: read once when the process starts, then held here and nowhere a child can read.

Dropping ``OPENAI_API_KEY`` from ``os.environ`` is not enough: ``/proc/PID/environ``
shows the environment block the process was started with, which ``unsetenv`` never
touches, and any command agentcli runs can read its parent's (it is the same user). So
:func:`take_key`, called first thing by the real ``agentcli`` process
(``cli/app.py::main``; never by the in-process test harness):

1. reads the key and keeps it in this module, where the model client gets it
   (:func:`api_key`);
2. overwrites, in the original environment block, the value of the key and of every
   other variable that looks secret (``agent/secrets.py``): what the block still shows
   is ``NAME=`` and zero bytes;
3. drops the key from ``os.environ`` (so no child inherits it) and from ``posix.environ``;
4. makes the process non-dumpable (``prctl(PR_SET_DUMPABLE, 0)``): another process of the
   same user can no longer read its memory or its ``/proc`` files. A command's own
   processes are dumpable again once they ``exec`` — this is about agentcli itself.

Elsewhere than Linux steps 2 and 4 do nothing (no ``/proc``, no ``prctl``).

Example:
    >>> take_key()
    >>> api_key()  # the key OPENAI_API_KEY had, though the environment no longer has it
    'sk-...'
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentcli.agent.config import Settings

KEY_VARIABLE = "OPENAI_API_KEY"
DISCOVERED = "--local"
"""The source of an endpoint agentcli found on this machine (``--local``) rather than was
given: whatever answers on a usual port may be anyone's server, so it never gets the key."""
_PR_SET_DUMPABLE = 4
_ENV_START_FIELD, _ENV_END_FIELD = 50, 51  # of /proc/self/stat, counted from 1 (proc(5))

_taken = False
_held: str | None = None


def api_key() -> str | None:
    """The API key: the one taken at start, else (tests, embedding) ``$OPENAI_API_KEY``."""
    if _taken:
        return _held
    return os.environ.get(KEY_VARIABLE) or None


def key_for(settings: Settings) -> str | None:
    """The key to send to ``settings``' endpoint: none to a discovered local server (it gets
    the no-key placeholder); the key to one given by ``--base-url``, ``$OPENAI_BASE_URL`` or a
    config file the user trusts (an untrusted workspace cannot set one)."""
    if settings.sources.get("base_url") == DISCOVERED:
        return None
    return api_key()


def take_key() -> None:
    """Take the key out of the process's environment for good (see the module docstring)."""
    global _held, _taken
    _held = os.environ.get(KEY_VARIABLE) or None
    _taken = True
    with contextlib.suppress(Exception):  # not Linux, no /proc, no libc: the other steps still hold
        _wipe_original_block()
    os.environ.pop(KEY_VARIABLE, None)
    with contextlib.suppress(Exception):
        import posix

        posix.environ.pop(KEY_VARIABLE.encode(), None)
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _wipe_original_block() -> None:
    """Zero the values of the key and of every secret-looking variable in the environment
    block ``/proc/self/environ`` shows (the strings at ``env_start``..``env_end``)."""
    from agentcli.agent.secrets import looks_secret

    with open("/proc/self/stat", "rb") as stat:
        fields = stat.read().rsplit(b")", 1)[1].split()
    # fields[0] is field 3 (the state): the command name, which may hold spaces, is cut off
    start, end = int(fields[_ENV_START_FIELD - 3]), int(fields[_ENV_END_FIELD - 3])
    if not 0 < start < end:
        return
    wiped: list[tuple[bytes, bytes]] = []
    with open("/proc/self/mem", "r+b", buffering=0) as memory:
        memory.seek(start)
        block = memory.read(end - start)
        at = 0
        for entry in block.split(b"\0"):
            name, equals, value = entry.partition(b"=")
            text_name, text_value = name.decode("utf-8", "replace"), value.decode("utf-8", "replace")
            if equals and value and (text_name == KEY_VARIABLE or text_name.upper().startswith("OPENAI_")
                                     or looks_secret(text_name, text_value)):
                memory.seek(start + at + len(name) + 1)
                memory.write(b"\0" * len(value))
                if text_name != KEY_VARIABLE:
                    wiped.append((name, value))
            at += len(entry) + 1
    _keep_for_libraries(wiped)


def _keep_for_libraries(variables: list[tuple[bytes, bytes]]) -> None:
    """Give the C library back the variables wiped from the original block (the key aside):
    ``getenv`` then returns a copy of each kept elsewhere in memory, which
    ``/proc/PID/environ`` does not show, so a native library that reads its own token that
    way (Ray's core reads ``RAY_AUTH_TOKEN``) still finds it."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for name, value in variables:
        libc.setenv(name, value, 1)
