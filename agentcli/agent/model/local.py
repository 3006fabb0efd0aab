"""Find an OpenAI-compatible server running on this machine, on the usual ports.

With no API key and no ``--base-url`` there is nothing agentcli can talk to, unless a local
server is running: Ollama (11434), LM Studio (1234) or llama.cpp's server (8080). A port
counts only when ``GET /v1/models`` answers with a model list, so an unrelated service on
8080 is never mistaken for one. ``$AGENTCLI_LOCAL_PORTS`` (``11434,1234`` or
``Ollama=11434,...``) changes where to look.

Example:
    >>> [server.base_url for server in find_local_servers()]
    ['http://127.0.0.1:11434/v1']
"""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from dataclasses import dataclass, field

USUAL = (("Ollama", 11434), ("LM Studio", 1234), ("llama.cpp", 8080))
_CONNECT_SECONDS = 0.2
_ANSWER_SECONDS = 2.0


@dataclass
class LocalServer:
    """A server found on this machine, and the models it lists."""

    name: str
    port: int
    models: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """What ``--base-url`` would be for it."""
        return f"http://127.0.0.1:{self.port}/v1"


def candidates(environ: dict[str, str] | None = None) -> list[tuple[str, int]]:
    """Where to look: ``$AGENTCLI_LOCAL_PORTS`` when set, else the usual ports."""
    spec = (os.environ if environ is None else environ).get("AGENTCLI_LOCAL_PORTS")
    if not spec:
        return list(USUAL)
    names = {port: name for name, port in USUAL}
    found = []
    for item in spec.split(","):
        name, _, port = item.strip().rpartition("=")
        if port.isdigit():
            found.append((name or names.get(int(port), f"port {port}"), int(port)))
    return found


def find_local_servers(environ: dict[str, str] | None = None) -> list[LocalServer]:
    """The OpenAI-compatible servers listening on 127.0.0.1, in the order looked at."""
    servers = []
    for name, port in candidates(environ):
        models = _models_at(port)
        if models is not None:
            servers.append(LocalServer(name, port, models))
    return servers


def _models_at(port: int) -> list[str] | None:
    """The model ids ``GET /v1/models`` lists on ``port``; None when nothing answers so."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=_CONNECT_SECONDS):
            pass
    except OSError:
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=_ANSWER_SECONDS) as answer:
            body = json.loads(answer.read(1 << 20))
    except (OSError, ValueError):
        return None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        return None
    return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
