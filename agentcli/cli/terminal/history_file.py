"""The terminal's input history file, read and appended without following a symlink.

prompt-toolkit's ``FileHistory`` opens its file by name; agentcli's lives in its own
state folder (checked to be this user's, see ``session/state_folder.py``) and is opened
with ``O_NOFOLLOW`` all the same: a ``history`` link planted there is an error, never a
way to write typed prompts somewhere else.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from pathlib import Path

from prompt_toolkit.history import FileHistory

from agentcli.store.owned import open_private


class PrivateFileHistory(FileHistory):
    """``FileHistory`` in prompt-toolkit's file format, over a file opened ``O_NOFOLLOW`` (0600)."""

    def __init__(self, path: Path):
        super().__init__(str(path))
        self.path = path

    def load_history_strings(self) -> Iterable[str]:
        """The stored entries, newest first."""
        try:
            fd = open_private(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return []
        strings: list[str] = []
        lines: list[str] = []
        with open(fd, "rb") as file:
            for raw in file:
                line = raw.decode("utf-8", errors="replace")
                if line.startswith("+"):
                    lines.append(line[1:])
                    continue
                if lines:
                    strings.append("".join(lines)[:-1])
                lines = []
        if lines:
            strings.append("".join(lines)[:-1])
        return list(reversed(strings))

    def store_string(self, string: str) -> None:
        """Append one entry."""
        fd = open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        text = f"\n# {datetime.datetime.now()}\n" + "".join(f"+{line}\n" for line in string.split("\n"))
        with open(fd, "ab") as file:
            file.write(text.encode("utf-8", errors="replace"))
