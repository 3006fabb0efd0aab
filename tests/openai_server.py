"""A real local OpenAI-compatible Chat Completions server that replays a scripted queue.

Tests point the real ``openai`` SDK (or agentcli itself, in-process or as a subprocess) at it::

    with ScriptedOpenAIServer() as server:
        server.script(text_answer("Hello!"))
        client = openai.OpenAI(base_url=server.base_url, api_key="test", max_retries=0)
        ...
        assert server.requests[0].body["model"] == "gpt-test"

Standalone (for benchmarks)::

    python tests/openai_server.py --script answers.json [--port N] [--log requests.jsonl]

prints the base URL on its first stdout line and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from openai_answers import (
    Answer,
    ToolCallSpec,
    answer_from_json,
    completion_body,
    drop_answer,
    endless_answer,
    endless_body,
    error_answer,
    error_body,
    message_text,
    request_error,
    stream_events,
    text_answer,
    tool_answer,
    tool_call,
)

__all__ = [
    "Answer",
    "RecordedRequest",
    "ScriptedOpenAIServer",
    "ToolCallSpec",
    "drop_answer",
    "endless_answer",
    "error_answer",
    "text_answer",
    "tool_answer",
    "tool_call",
]

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
EXHAUSTED = "ScriptedOpenAIServer: script exhausted, no answer queued for request #{n} to {path}"


@dataclass
class RecordedRequest:
    """One request as received: ``headers`` keys lower-cased, ``body`` parsed JSON or raw text.

    ``received_at`` is when it was read and parsed; ``arrived_at`` when its headers had
    arrived, before the server read the body; ``answered_at`` when the answer was all
    written (None before, or without one). ``arrived_at`` of a request minus
    ``answered_at`` of the one before is the client's own time between them.
    """

    path: str
    headers: dict[str, str]
    body: Any
    received_at: float
    arrived_at: float = 0.0
    answered_at: float | None = None


class ScriptedOpenAIServer:
    """A ``ThreadingHTTPServer`` on 127.0.0.1 answering Chat Completions from a queue.

    Every request is recorded in ``requests``; answers are queued with ``script``/``push``
    (thread-safe, at any time). An empty queue answers 500 with a message saying the
    script is exhausted. ``GET /v1/models`` lists ``models`` once they are set (else 404).
    """

    def __init__(self, port: int = 0, log_path: str | Path | None = None) -> None:
        self._port = port
        self._log_path = Path(log_path) if log_path else None
        self._cond = threading.Condition()
        self._answers: list[Answer] = []
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.requests: list[RecordedRequest] = []
        self.base_url = ""
        self.models: list[str] | None = None  # when set, GET /v1/models lists them

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> ScriptedOpenAIServer:
        """Bind and serve in a background thread; ``base_url`` is set once this returns."""
        httpd = _HTTPServer(("127.0.0.1", self._port), _Handler)
        # A client that connects and resets at once (a killed agentcli, a cancelled call)
        # can leave select() saying "readable" with nothing to accept: a blocking accept()
        # would then hang serve_forever, and stop() with it. Non-blocking, it just returns.
        httpd.socket.setblocking(False)
        httpd.owner = self
        self._httpd = httpd
        self.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        self._thread = threading.Thread(
            target=httpd.serve_forever, args=(0.02,), daemon=True, name="openai-server"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; stalled answers are released so no thread hangs."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- script ----------------------------------------------------------------------
    def script(self, *answers: Answer) -> None:
        """Queue ``answers``, in order, after any already queued."""
        with self._cond:
            self._answers.extend(answers)

    def push(self, answer: Answer) -> None:
        """Queue one answer."""
        self.script(answer)

    @property
    def pending(self) -> int:
        """How many queued answers are still unused."""
        with self._cond:
            return len(self._answers)

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least ``n`` requests arrived; ``TimeoutError`` after ``timeout``."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= n, timeout):
                raise TimeoutError(f"{len(self.requests)} of {n} requests arrived in {timeout}s")
            return list(self.requests)

    # -- used by the handler ---------------------------------------------------------
    def _record(self, path: str, headers: dict[str, str], body: Any, arrived_at: float | None = None) -> int:
        lowered = {name.lower(): value for name, value in headers.items()}
        received = time.time()
        entry = RecordedRequest(path=path, headers=lowered, body=body, received_at=received,
                                arrived_at=arrived_at or received)
        with self._cond:
            self.requests.append(entry)
            number = len(self.requests)
            self._cond.notify_all()
        if self._log_path is not None:
            with self._log_path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(asdict(entry)) + "\n")
        return number

    def answer_by_turn(self, *answers: Answer) -> None:
        """Serve ``answers[k]`` to every request whose conversation has had ``k`` answers
        (``k`` = (messages - 2) / 2: a system and a user message, then an assistant and a
        tool message per step) — never used up, so a request re-sent after a crash gets
        the same answer as the first time. For kill fuzzing; replaces any script."""
        with self._cond:
            self._by_turn = list(answers)

    def answer_with(self, responder: Callable[[Any], Answer | None]) -> None:
        """Answer each request with ``responder(body)``: the test decides from what was sent
        (e.g. a summarising request, or the step its last tool result says it is at).
        Replaces any script."""
        with self._cond:
            self._responder = responder

    def _take(self, body: Any) -> Answer | None:
        responder = getattr(self, "_responder", None)
        if responder is not None:
            return responder(body)
        by_turn = getattr(self, "_by_turn", None)
        if by_turn is not None:
            messages = body.get("messages") if isinstance(body, dict) else None
            turn = (len(messages or []) - 2) // 2
            return by_turn[turn] if 0 <= turn < len(by_turn) else None
        text = message_text(body)
        with self._cond:
            for i, answer in enumerate(self._answers):
                if answer.match is None or answer.match in text:
                    return self._answers.pop(i)
        return None

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _stall(self, answer: Answer) -> None:
        assert answer.hold is not None
        answer.held.set()
        while not answer.hold.wait(0.05) and not self._stopping.is_set():
            pass


class _HTTPServer(ThreadingHTTPServer):
    """The HTTP server, pointing back at its ``ScriptedOpenAIServer``."""

    daemon_threads = True
    owner: ScriptedOpenAIServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up (closed keep-alive, killed process); report the rest."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Speaks just enough HTTP/1.1 (keep-alive, chunked SSE) for the openai SDK."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        """Stay quiet; requests are recorded instead."""

    server: _HTTPServer

    @property
    def owner(self) -> ScriptedOpenAIServer:
        return self.server.owner

    def do_GET(self) -> None:
        self.owner._record(self.path, dict(self.headers), None)
        models = self.owner.models
        if models is not None and self.path.split("?", 1)[0] in ("/v1/models", "/models"):
            listed = [{"id": name, "object": "model", "created": 0, "owned_by": "test"} for name in models]
            self._send_json(200, {"object": "list", "data": listed})
            return
        self._send_json(404, error_body(f"no route GET {self.path}", 404))

    def do_POST(self) -> None:
        arrived = time.time()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        number = self.owner._record(self.path, dict(self.headers), body, arrived)
        path = self.path.split("?", 1)[0]
        if path not in CHAT_PATHS:
            self._send_json(404, error_body(f"no route POST {path}", 404))
            return
        refused = request_error(body)
        if refused is not None:
            self._send_json(400, error_body(refused, 400))
            return
        answer = self.owner._take(body)
        if answer is None:
            message = EXHAUSTED.format(n=number, path=path)
            self._send_json(500, error_body(message, 500))
            return
        try:
            self._answer(answer, body if isinstance(body, dict) else {})
            self.wfile.flush()
        except (ConnectionError, ValueError):  # ValueError: a dropped connection's closed file
            self.close_connection = True  # the client went away (e.g. it was killed)
            return
        self.owner.requests[number - 1].answered_at = time.time()

    def _answer(self, answer: Answer, request: dict[str, Any]) -> None:
        self._delay(answer)
        if answer.drop_after == 0:
            self._drop()
        elif answer.endless:
            self._endless(answer, request)
        elif answer.status != 200:
            self._send_json(answer.status, answer.body, answer.headers)
        elif request.get("stream"):
            self._stream(answer, request)
        else:
            if answer.hold is not None:
                self.owner._stall(answer)
            self._send_json(200, completion_body(answer, request), answer.headers, answer.drop_after)

    def _delay(self, answer: Answer) -> None:
        """Wait ``answer.delay`` seconds before a first byte, watching the client: one that
        hangs up meanwhile sets ``answer.hung_up`` (and nothing is sent)."""
        until = time.monotonic() + answer.delay
        while time.monotonic() < until and not self.owner._stopping.is_set():
            if self._client_gone(min(0.05, until - time.monotonic())):
                answer.hung_up.set()
                raise ConnectionResetError("the client hung up before the answer")

    def _client_gone(self, seconds: float) -> bool:
        """Whether the client closed its end (it sends nothing more after a request)."""
        import select
        import socket

        readable, _, _ = select.select([self.connection], [], [], max(0.0, seconds))
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _send_json(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        drop_after: int | None = None,
    ) -> None:
        is_text = isinstance(body, str)
        data = (body if is_text else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if is_text else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if drop_after:
            self.wfile.write(data[: len(data) // 2])
            self._drop()
            return
        self.wfile.write(data)

    def _stream(self, answer: Answer, request: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        events = [json.dumps(e) for e in stream_events(answer, request)] + ["[DONE]"]
        for i, event in enumerate(events):
            if answer.drop_after is not None and i == answer.drop_after:
                self._drop()
                return
            if answer.hold is not None and i == answer.hold_after:
                self.owner._stall(answer)
            if i > 0:
                self.owner._pause(answer.chunk_delay)
            self._write_chunk(f"data: {event}\n\n".encode())
        self._write_chunk(b"")  # the terminating zero-length chunk

    def _endless(self, answer: Answer, request: dict[str, Any]) -> None:
        """Send an answer that never ends, until the client hangs up (or the server stops)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if request.get("stream") else "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for piece in endless_body(answer, request):
                if self.owner._stopping.is_set():
                    break
                self._write_chunk(piece)
        except (ConnectionError, ValueError):
            self.close_connection = True
        finally:
            answer.stopped.set()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def _drop(self) -> None:
        """Close the socket mid-exchange, as a crashed or overloaded server would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    """Serve a JSON script of answers (a list of ``Answer`` field dicts) until stopped."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", required=True, help="JSON file: a list of answers")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: any free)")
    parser.add_argument("--log", help="append each request to this file as a JSON line")
    args = parser.parse_args(argv)
    entries = json.loads(Path(args.script).read_text(encoding="utf-8"))
    server = ScriptedOpenAIServer(port=args.port, log_path=args.log)
    server.script(*(answer_from_json(entry) for entry in entries))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with server:
        print(server.base_url, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
