"""An in-process Model that replays scripted answers: for engine tests that need no HTTP.

It speaks the same protocol as the real client (``agentcli.agent.model.protocol``):
each answer is one attempt told to the AttemptLog, so the audit rows and the
transcript are written exactly as in a real run. End-to-end tests keep using the
real HTTP server (tests/openai_server.py); this is for running several agents at
once, where one shared scripted queue would hand answers out in a racy order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from agentcli.agent.cancel import NEVER, CancelToken
from agentcli.agent.model.protocol import Attempt, AttemptLog
from agentcli.agent.model.reply import ModelReply, reply_from_response


def say(text: str) -> dict[str, Any]:
    """An answer without tool calls."""
    return {"content": text}


def call(name: str, arguments: str, call_id: str) -> dict[str, Any]:
    """An answer with one tool call."""
    return {"content": "", "tool_calls": [{"id": call_id, "type": "function",
                                           "function": {"name": name, "arguments": arguments}}]}


class ScriptedModel:
    """Answers from a list, in order; records the messages of every request.

    ``before_answer`` runs before each answer (a test can make two agents meet there).
    """

    def __init__(self, answers: list[dict[str, Any]], name: str = "scripted",
                 before_answer: Callable[[], None] | None = None):
        self.name = name
        self.endpoint_host = "in-process"
        self._answers = list(answers)
        self._before = before_answer
        self.requests: list[list[dict[str, Any]]] = []
        self._lock = threading.Lock()

    def complete(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *,
                 log: AttemptLog | None = None, on_text: Callable[[str], None] | None = None,
                 cancel: CancelToken | None = None) -> ModelReply:
        (cancel or NEVER).check()
        with self._lock:
            self.requests.append(messages)
            answer = self._answers.pop(0)
        attempt = Attempt(0, {"model": self.name, "tools": tools}, self.name, self.endpoint_host, time.time())
        if log is not None:
            log.started(attempt)
        if self._before is not None:
            self._before()
        message = {"role": "assistant", **answer}
        response = {"id": "scripted", "object": "chat.completion", "model": self.name,
                    "choices": [{"index": 0, "message": message,
                                 "finish_reason": "tool_calls" if answer.get("tool_calls") else "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        reply = reply_from_response(response)
        if log is not None:
            attempt.response, attempt.http_status, attempt.latency_ms = response, 200, 1
            log.ended(attempt, reply)
        return reply

    def close(self) -> None:
        """Nothing to release."""
