"""Reading input: history per workspace, multi-line keys, completion, ``@path`` mentions.

Enter sends; Alt-Enter (Esc then Enter) or Ctrl-J starts a new line; pasted text keeps
its lines (bracketed paste). Tab completes slash commands and ``@path`` mentions.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.key_binding import KeyBindings

from agentcli.cli.options import STATE_DIR as STATE_FOLDER
from agentcli.cli.prompt_input import MAX_MENTION_BYTES, MAX_MENTIONS_BYTES, read_head

MENTION = re.compile(r"(?<![\w@])@([^\s@]+)")
_SKIP = {".git", STATE_FOLDER, "__pycache__", "node_modules", ".venv"}  # a user's sessions/ is theirs


def history_path(root: Path) -> Path:
    """The input history file of a workspace (one for all its sessions)."""
    return root / STATE_FOLDER / "history"


def open_history(root: Path, redact: Callable[[str], str] = lambda text: text):
    """The workspace's history (a prompt_toolkit ``History``), kept in a file agentcli's own
    folder hides from git (the folder checked to be agentcli's own, the file opened without
    following a link); each entry is stored as ``redact`` makes it, as the session stores
    the prompt (a key pasted by mistake is ``***`` there too, and in what Up recalls)."""
    from prompt_toolkit.history import InMemoryHistory

    from agentcli.cli.terminal.history_file import PrivateFileHistory
    from agentcli.session.directory import ensure_state_dir
    from agentcli.store.owned import open_private

    class RedactedFileHistory(PrivateFileHistory):
        def append_string(self, string: str) -> None:
            super().append_string(redact(string))

    class RedactedMemoryHistory(InMemoryHistory):
        def append_string(self, string: str) -> None:
            super().append_string(redact(string))

    path = history_path(root)
    try:
        ensure_state_dir(path.parent)  # 0700, with its .gitignore of *
        os.close(open_private(path, os.O_WRONLY | os.O_CREAT))
    except OSError:  # a read-only workspace: history for this run only
        return RedactedMemoryHistory()
    return RedactedFileHistory(path)


@contextlib.contextmanager
def keys_kept_between_prompts(fd: int) -> Iterator[None]:
    """While inside, keys typed between two prompts wait for the next one as they were typed.

    Between prompts the terminal is in its cooked mode: it would echo the keys over the
    agent's output and turn Enter into a newline (which the next prompt reads as Ctrl-J, a
    new line, not "send"). This leaves echo and line editing off meanwhile, Enter as Enter,
    and Ctrl-C a signal as usual; the terminal's own settings come back at the end.
    """
    import termios

    try:
        saved = termios.tcgetattr(fd)
    except (termios.error, OSError):  # not a terminal
        yield
        return
    quiet = list(saved)
    quiet[0] &= ~(termios.ICRNL | termios.INLCR | termios.IGNCR)
    quiet[3] &= ~(termios.ECHO | termios.ICANON)
    quiet[6] = list(saved[6])
    quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 1, 0
    try:
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
        yield
    finally:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(fd, termios.TCSANOW, saved)


OPEN_OUTPUT = object()  # what a prompt returns when Ctrl-O asks for the last output, whole


class EscapePressed(KeyboardInterrupt):
    """Esc on the line open while the agent works: stop the turn, as Ctrl-C does."""


def key_bindings(*, busy: bool = False) -> KeyBindings:
    """Alt-Enter and Ctrl-J insert a newline; Enter sends; Ctrl-O closes the line with
    :data:`OPEN_OUTPUT`. With ``busy`` (the line open while the agent works) Esc stops the
    turn (:class:`EscapePressed`); at the idle prompt Esc only starts an Alt sequence."""
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    @bindings.add("c-j")
    def _newline(event) -> None:  # noqa: ANN001 - prompt_toolkit's KeyPressEvent
        event.current_buffer.insert_text("\n")

    @bindings.add("c-o")
    def _output(event) -> None:  # noqa: ANN001
        event.app.erase_when_done = True  # the line comes back as it was once the pager closes
        event.app.exit(result=OPEN_OUTPUT)

    if busy:
        # Esc alone is told from Esc-then-Enter (Alt-Enter) by waiting for the next key:
        # an Alt-Enter's two bytes arrive together, so a short wait is enough (busy_prompt).
        @bindings.add("escape")
        def _stop(event) -> None:  # noqa: ANN001
            event.app.exit(exception=EscapePressed())

    return bindings


def answer_keys(keys: str, words: dict[str, str]) -> KeyBindings:
    """A question answered by one key of ``keys`` (either case, no Enter): the prompt
    returns the key and its line shows ``words[key]``. Esc stops the turn
    (:class:`EscapePressed`); every other key, Enter too, is ignored."""
    bindings = KeyBindings()

    def answer(key: str) -> Callable[..., None]:
        def chosen(event) -> None:  # noqa: ANN001
            event.current_buffer.text = words.get(key, key)
            event.app.exit(result=key)
        return chosen

    for key in keys:
        bindings.add(key)(answer(key))
        bindings.add(key.upper())(answer(key))

    @bindings.add("<any>")
    @bindings.add("enter")
    @bindings.add("c-j")
    def _ignored(event) -> None:  # noqa: ANN001
        """Keys that answer nothing are not typed into the line."""

    @bindings.add("escape", eager=True)
    def _stop(event) -> None:  # noqa: ANN001
        event.app.exit(exception=EscapePressed())

    return bindings


ESCAPE_WAIT = 0.05  # seconds after a lone Esc byte before it is a key of its own (prompt-toolkit: 0.5)
SEQUENCE_WAIT = 0.2  # seconds after Esc for the key that would make it Alt-Enter (prompt-toolkit: 1.0)


def busy_prompt(session) -> None:  # noqa: ANN001 - prompt_toolkit's PromptSession
    """Make Esc on the line open while the agent works stop the turn within a quarter of a second."""
    session.app.ttimeoutlen = ESCAPE_WAIT
    session.app.timeoutlen = SEQUENCE_WAIT


class SlashAndPathCompleter(Completer):
    """Completes ``/commands`` (with their help) and ``@path`` mentions of workspace files."""

    def __init__(self, root: Path, commands: dict[str, str], arguments: dict[str, Iterable[str]]):
        self.root = root
        self.commands = commands  # name -> one-line help
        self.arguments = arguments  # command -> the words it takes

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        """What Tab offers at the cursor."""
        before = document.text_before_cursor
        if before.startswith("/") and " " not in before:
            for name, help_text in self.commands.items():
                if name.startswith(before):
                    yield Completion(name, -len(before), display_meta=help_text)
            return
        if before.startswith("/") and before.count(" ") == 1:
            command, word = before.split(" ")
            for value in self.arguments.get(command, ()):
                if value.startswith(word):
                    yield Completion(value, -len(word))
            return
        word = before.split()[-1] if before.strip() and not before[-1].isspace() else ""
        if word.startswith("@"):
            for path in self._paths(word[1:]):
                yield Completion("@" + path, -len(word))

    def _paths(self, partial: str, limit: int = 200) -> list[str]:
        folder, _, stem = partial.rpartition("/")
        base = (self.root / folder) if folder else self.root
        try:
            real = base.resolve()
            if real != self.root and self.root not in real.parents:
                return []
            entries = sorted(os.scandir(base), key=lambda e: e.name)
        except OSError:
            return []
        found = []
        for entry in entries:
            if not entry.name.startswith(stem) or entry.name in _SKIP:
                continue
            if entry.name.startswith(".") and not stem.startswith("."):
                continue
            name = f"{folder}/{entry.name}" if folder else entry.name
            found.append(name + "/" if entry.is_dir() else name)
            if len(found) >= limit:
                break
        return found


@dataclass
class Mentions:
    """A prompt with its ``@path`` files attached, and what could not be attached."""

    text: str
    attached: list[tuple[str, int]] = field(default_factory=list)  # (path, lines)
    problems: list[str] = field(default_factory=list)


def attach_mentions(prompt: str, root: Path, protected: Iterable[Path] = ()) -> Mentions:
    """Append the content of every file the prompt mentions as ``@path`` (inside the workspace).

    The model gets the files with the prompt; the session records the whole text.

    Example:
        >>> attach_mentions("explain @app.py", root).attached
        [('app.py', 12)]
    """
    from agentcli.agent.errors import ToolError
    from agentcli.agent.workspace.jail import Workspace
    from agentcli.cli.render.markdown import fenced

    workspace = Workspace(root, protected=list(protected))
    result = Mentions(prompt)
    parts = []
    seen: set[str] = set()
    attached = 0  # bytes of the files attached so far
    for match in MENTION.finditer(prompt):
        name = match.group(1).rstrip(".,;:!?)")
        if name in seen:
            continue
        seen.add(name)
        try:
            path = workspace.resolve(name)
        except ToolError as err:
            result.problems.append(f"@{name}: {err}")
            continue
        if not path.is_file():
            if path.exists():
                result.problems.append(f"@{name}: not a file")
            continue  # an @word that names no file is just text
        room = MAX_MENTIONS_BYTES - attached
        if room <= 0:
            result.problems.append(f"@{name}: not attached: the files of one prompt attach at most "
                                   f"{MAX_MENTIONS_BYTES // 1000:,} kB together")
            continue
        try:
            data = read_head(path, MAX_MENTION_BYTES)  # never the whole of a huge file
        except OSError as err:
            result.problems.append(f"@{name}: cannot be read ({err.strerror or err})")
            continue
        if b"\0" in data[:8000]:
            result.problems.append(f"@{name}: a binary file, not attached")
            continue
        limit = min(MAX_MENTION_BYTES, room)
        text = data[:limit].decode("utf-8", errors="replace")
        attached += min(len(data), limit)
        cut = f" (cut at {limit // 1000:,} kB)" if len(data) > limit else ""
        rel = workspace.relative(path)
        parts.append(f"File {rel}{cut}:\n{fenced(text)}")
        result.attached.append((rel, text.count("\n") + (not text.endswith("\n"))))
    if parts:
        result.text = prompt.rstrip() + "\n\n" + "\n\n".join(parts)
    return result
