"""Endpoint URLs as agentcli stores and shows them: never the credentials they may carry."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlparse

# A refused connection to a local endpoint (is_local): nothing listens there, and waiting
# half a minute will not start it. Three attempts, 0.5 s then 1 s apart: 1.5 s in all.
LOCAL_REFUSED_WAITS = (0.5, 1.0)


def endpoint_host(base_url: str | None) -> str:
    """``host[:port]`` of an endpoint URL, without user or password."""
    if not base_url:
        return "api.openai.com"
    parts = urlparse(base_url)
    if not parts.hostname:
        return public_url(base_url)
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{host}:{parts.port}" if parts.port else host


def public_url(url: str) -> str:
    """``url`` without credentials, query or fragment: ``http://user:pw@h/v1?key=x`` → ``http://h/v1``."""
    parts = urlparse(url)
    if not parts.scheme or not parts.hostname:
        return url.split("?", 1)[0].split("#", 1)[0].rsplit("@", 1)[-1]
    return f"{parts.scheme}://{endpoint_host(url)}{parts.path}"


def split_query(base_url: str | None) -> tuple[str | None, dict[str, str]]:
    """A base URL without its query, and the query's parameters."""
    if not base_url or "?" not in base_url:
        return base_url, {}
    from urllib.parse import parse_qsl

    url, _, query = base_url.partition("?")
    return url, dict(parse_qsl(query.split("#", 1)[0]))


def is_local(base_url: str | None) -> bool:
    """Whether the endpoint is on this machine or its local network: ``localhost`` (and
    ``*.localhost``, ``*.local``), a loopback, unspecified, private or link-local address.
    A refused connection there means nothing is listening: it is given up on quickly.

    Example:
        >>> is_local("http://127.0.0.1:11434/v1"), is_local("https://api.openai.com/v1")
        (True, False)
    """
    if not base_url:
        return False
    host = (urlparse(base_url).hostname or "").lower().rstrip(".")
    if host == "localhost" or host.endswith((".localhost", ".local")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified or address.is_private or address.is_link_local
