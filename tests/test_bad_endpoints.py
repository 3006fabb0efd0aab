"""Bad endpoint answers are endpoint errors (issue 10): exit 3, one line, the audit row
closed, the turn resumable — never a crash. Each endpoint here is a raw socket server
sending exactly the bytes a misbehaving server would."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from agent_harness import agentcli, rows, session_file


class RawServer:
    """Answers every HTTP request with the same raw bytes, then closes the connection."""

    def __init__(self, answer: bytes):
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.requests = 0
        self.base_url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length")), b"0"))
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1
                conn.sendall(self.answer)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self.sock.close()


def http(status: str, content_type: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


def sse(*events: bytes) -> bytes:
    body = b"".join(b"data: " + e + b"\n\n" for e in events)
    return http("200 OK", "text/event-stream", body)


CHUNK = (b'{"id":"x","object":"chat.completion.chunk","created":1,"model":"m",'
         b'"choices":[{"index":0,"delta":%s,"finish_reason":%s}]}')

CASES = {
    "invalid UTF-8 in a stream": (sse(CHUNK % (b'{"content":"caf\xe9"}', b"null"),
                                      CHUNK % (b"{}", b'"stop"'), b"[DONE]"), True, "not UTF-8"),
    "a lone surrogate in the text": (sse(CHUNK % (b'{"content":"x\\ud800y"}', b'"stop"'), b"[DONE]"), True,
                                     "lone surrogate"),
    "a stream with empty choices": (sse(b'{"id":"x","choices":[]}', b"[DONE]"), True,
                                    "before the model finished"),
    "an HTML page with status 200": (http("200 OK", "text/html", b"<html>welcome to the router</html>"),
                                     False, "text/html, not JSON"),
    "JSON null": (http("200 OK", "application/json", b"null"), False, "not a chat completion"),
    "an empty answer": (http("200 OK", "application/json",
                             b'{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":""},'
                             b'"finish_reason":"stop"}]}'), False, "empty"),
}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    return root


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_answer_is_an_endpoint_error_in_one_line(case: str, workspace: Path,
                                                       env: dict[str, str]) -> None:
    answer, stream, words = CASES[case]
    config = Path(env["XDG_CONFIG_HOME"]) / "agentcli" / "config.toml"
    config.write_text(config.read_text() + f"max_attempts = 2\nstream = {'true' if stream else 'false'}\n")
    server = RawServer(answer)
    try:
        run = agentcli(["new", "hi", "-p", "--base-url", server.base_url], env=env, cwd=workspace)
    finally:
        server.close()
    assert run.code == 3, run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("agentcli: ") and words in last and "Error" not in last.split(":")[1]
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr
    audit = rows(session_file(workspace, run.session_id), "SELECT status FROM model_calls")
    assert audit and all(a["status"] == "error" for a in audit)
    prompt = rows(session_file(workspace, run.session_id), "SELECT status FROM prompts")[0]
    assert prompt["status"] == "interrupted"  # resumable
