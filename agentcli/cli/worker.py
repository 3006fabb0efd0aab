"""Run the agent on a worker thread while the interface keeps the main thread.

The main thread owns the terminal and the signals: it answers the agent's approval
questions (they arrive through a queue) and turns Ctrl-C, SIGTERM and SIGHUP into a
cancel of the token the agent checks. The agent never reads the terminal and never
sees ``KeyboardInterrupt``.

Example:
    >>> worker = AgentWorker(answer=TerminalAsker(console, read))
    >>> result = worker.run(lambda token: orchestrator.run(token), CancelToken())
"""

from __future__ import annotations

import queue
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError  # not the builtin before 3.11
from contextlib import contextmanager
from typing import Any, TypeVar

from agentcli.agent.approval import ApprovalAnswer, ApprovalRequest
from agentcli.agent.cancel import Cancelled, CancelToken

T = TypeVar("T")
_WAKE_SECONDS = 0.1

Answerer = Callable[[ApprovalRequest], ApprovalAnswer]


class AgentWorker:
    """Runs one piece of agent work at a time on a thread; answers its questions here."""

    def __init__(self, answer: Answerer | None = None):
        self._answer = answer
        self._questions: queue.Queue[tuple[ApprovalRequest, Future[ApprovalAnswer]]] = queue.Queue()
        self._wake = threading.Event()  # set when a question arrives or the work ends

    @property
    def can_ask(self) -> bool:
        """True when somebody is there to answer approval questions."""
        return self._answer is not None

    def ask(self, request: ApprovalRequest, cancel: CancelToken) -> ApprovalAnswer:
        """The agent's side: put the question to the main thread and wait for the answer."""
        answered: Future[ApprovalAnswer] = Future()
        self._questions.put((request, answered))
        self._wake.set()
        while True:
            cancel.check()
            try:
                return answered.result(timeout=_WAKE_SECONDS)
            except FutureTimeoutError:
                continue

    def run(self, work: Callable[[CancelToken], T], cancel: CancelToken, *,
            on_interrupt: Callable[[], None] | None = None,
            idle: Callable[[threading.Event], None] | None = None) -> T:
        """Run ``work(cancel)`` on a worker thread until it returns; re-raise what it raised.

        Meanwhile this thread answers questions. A ``KeyboardInterrupt`` here (Ctrl-C,
        also while a question is on screen) calls ``on_interrupt`` (by default: cancel
        the token, resumable) and keeps waiting for the work to wind down.

        ``idle(wake)``, when given, is what this thread does while no question waits
        (the terminal reads typed-ahead input): it must return soon after ``wake`` is
        set, which happens when a question arrives or the work ends.
        """
        outcome: dict[str, Any] = {}
        finished = threading.Event()
        self._wake.clear()

        def body() -> None:
            try:
                outcome["value"] = work(cancel)
            except BaseException as err:  # handed back to the caller's thread
                outcome["error"] = err
            finally:
                finished.set()
                self._wake.set()

        thread = threading.Thread(target=body, name="agentcli-agent", daemon=True)
        thread.start()
        while not finished.is_set():
            try:
                self._wake.clear()  # before looking: a question or the end after this sets it again
                if finished.is_set():
                    break
                if idle is not None and self._questions.empty():
                    idle(self._wake)
                if not self._serve_one() and not finished.is_set():
                    self._wake.wait(_WAKE_SECONDS)
            except KeyboardInterrupt:
                (on_interrupt or (lambda: cancel.cancel("interrupted")))()
        thread.join()
        self._refuse_leftovers()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def _serve_one(self) -> bool:
        """Answer the oldest waiting question, if any (False: none was waiting)."""
        try:
            request, answered = self._questions.get_nowait()
        except queue.Empty:
            return False
        if answered.done():
            return True
        try:
            answer = self._answer(request) if self._answer else ApprovalAnswer("no")
        except (EOFError, KeyboardInterrupt):
            answered.set_result(ApprovalAnswer("no", "the question was not answered"))
            raise
        answered.set_result(answer)
        return True

    def _refuse_leftovers(self) -> None:
        while True:
            try:
                _, answered = self._questions.get_nowait()
            except queue.Empty:
                return
            if not answered.done():
                answered.set_result(ApprovalAnswer("no"))


@contextmanager
def signals_cancel(cancel: Callable[[], CancelToken]) -> Iterator[None]:
    """While inside: SIGTERM and SIGHUP cancel the current token (resumable, exit 130).

    Ctrl-C (SIGINT) keeps raising ``KeyboardInterrupt`` on the main thread, which
    :meth:`AgentWorker.run` turns into its ``on_interrupt`` (by default a resumable cancel).
    ``cancel`` returns the token of the work running now (a REPL makes one per turn).
    """

    def stop(signum: int, frame: object) -> None:
        cancel().cancel(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = ["AgentWorker", "Cancelled", "signals_cancel"]
