"""The terminal's stdout for rich while prompts come and go: every write lands, in order.

When a prompt is open, text is printed above it (the prompt is hidden, the text written,
the prompt drawn again) and the writer waits until that is done; otherwise it is written
at once. So what the agent printed is always on the screen before the next question is
asked, unlike a buffered proxy that flushes later. While a screen of its own is open (the
pager), writes wait (:meth:`ScreenWriter.held`) and land, in order, when it closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

_POLL = 0.01


class ScreenWriter:
    """A file for a rich ``Console``: writes go through prompt-toolkit's terminal output."""

    def __init__(self, output: Any):
        self._output = output  # prompt_toolkit Output of the real terminal
        self._buffer: list[str] = []
        self._lock = threading.RLock()
        self._holding = 0  # screens of their own open: writes wait meanwhile

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """While inside, what is written waits; it is written, in order, at the end."""
        with self._lock:
            self._holding += 1
        try:
            yield
        finally:
            with self._lock:
                self._holding -= 1
            self.flush()

    def write(self, text: str) -> int:
        """Keep ``text`` until the next flush (rich flushes after each print)."""
        with self._lock:
            self._buffer.append(text)
        return len(text)

    def isatty(self) -> bool:
        """The terminal is a terminal."""
        return True

    def fileno(self) -> int:
        """The descriptor of the terminal's stdout (rich reads the size from it)."""
        return self._output.fileno()

    def flush(self) -> None:
        """Write what was kept: above the open prompt if there is one, else straight out."""
        with self._lock:
            if self._holding:
                return
            text, self._buffer = "".join(self._buffer), []
            if text:
                self._put(text)

    def _raw(self, text: str) -> None:
        self._output.enable_autowrap()
        self._output.write_raw(text)
        self._output.flush()

    def _put(self, text: str) -> None:
        from prompt_toolkit.application import run_in_terminal
        from prompt_toolkit.application.current import get_app_or_none

        app = get_app_or_none()
        while app is not None and app.is_running and app.render_counter == 0:
            time.sleep(_POLL)  # a prompt being set up: print around it once it is drawn
        loop = getattr(app, "loop", None) if app is not None and app.is_running else None
        if loop is None or _on_loop(loop):
            self._raw(text)
            return
        written = threading.Event()

        def write() -> None:
            if not written.is_set():
                written.set()
                self._raw(text)

        async def above_prompt() -> None:
            await run_in_terminal(write, in_executor=False)

        try:
            future = asyncio.run_coroutine_threadsafe(above_prompt(), loop)
        except RuntimeError:  # the loop is closing
            write()
            return
        while not future.done():
            if not app.is_running:  # the prompt closed first: nothing to draw around
                future.cancel()
                break
            time.sleep(_POLL)
        if not written.is_set():
            write()


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
