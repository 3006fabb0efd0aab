"""Endpoint URLs as agentcli stores and shows them: never the credentials they may carry."""

from __future__ import annotations

from urllib.parse import urlparse


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
