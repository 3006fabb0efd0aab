"""The model client: one Chat Completions call, streamed, retried and audited (SPEC §2).

``openai`` and ``tenacity`` are imported inside functions so ``agentcli --help`` stays
instant. One retry layer: tenacity here, ``max_retries=0`` in the SDK.

Example::

    client = ModelClient(ModelSettings(model="gpt-4o-mini", base_url=None, api_key=key))
    reply = client.complete(messages, tools, on_text=print_delta)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from agentcli.agent.model.reply import (
    ModelReply,
    Usage,
    _IncompleteStreamError,
    _StreamAssembler,
    reply_from_response,
)
from agentcli.errors import ModelEndpointError

NO_KEY_PLACEHOLDER = "sk-no-key"
"""Sent when no API key is configured: the SDK refuses None, local servers ignore keys."""

AttemptHook = Callable[["Attempt"], None]


@dataclass
class ModelSettings:
    """How to reach the model; ``base_url`` None means the SDK default."""

    model: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    stream: bool = True
    timeout: float = 120.0
    max_attempts: int = 6
    retry_max_wait: float = 60.0


@dataclass
class Attempt:
    """One HTTP attempt, for the audit log; ``request`` is the JSON body, never a key."""

    number: int  # 0 for the first try, then 1, 2, ... for retries
    request: dict[str, Any]
    model: str
    endpoint_host: str
    started_at: float
    latency_ms: int | None = None
    response: dict[str, Any] | None = None
    usage: Usage | None = None
    error: str | None = None
    http_status: int | None = None
    interrupted: bool = False  # stopped by Ctrl-C / SIGTERM, not a failure of the endpoint


class ModelClient:
    """Calls an OpenAI-compatible Chat Completions endpoint with retries.

    An empty ``api_key`` is replaced by ``NO_KEY_PLACEHOLDER`` so local servers that
    need no key still work; a real endpoint then answers 401, reported as such.
    """

    def __init__(self, settings: ModelSettings, *, sleep: Callable[[float], None] = time.sleep):
        import openai

        self.settings = settings
        self._sleep = sleep
        self._client = openai.OpenAI(
            api_key=settings.api_key or NO_KEY_PLACEHOLDER,
            base_url=settings.base_url,
            timeout=settings.timeout,
            max_retries=0,
        )
        self.base_url = str(self._client.base_url)
        self.endpoint_host = urlsplit(self.base_url).netloc

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        on_attempt_start: AttemptHook | None = None,
        on_attempt_end: AttemptHook | None = None,
        on_text: Callable[[str], None] | None = None,
    ) -> ModelReply:
        """Send one request, retrying transient failures; raise ``ModelEndpointError``.

        ``on_attempt_start`` runs right before each HTTP attempt, ``on_attempt_end`` after
        it (latency, response or error filled in). ``on_text`` gets text deltas as they
        stream (the whole text at once when not streaming); a retried attempt streams its
        text again from the start, after a new ``on_attempt_start``.
        """
        import tenacity

        body = self._request_body(messages, tools)
        made = 0

        def attempt_once() -> ModelReply:
            nonlocal made
            made += 1
            return self._attempt(made - 1, body, on_attempt_start, on_attempt_end, on_text)

        retrying = tenacity.Retrying(
            sleep=self._sleep,
            stop=tenacity.stop_after_attempt(max(1, self.settings.max_attempts)),
            wait=self._wait,
            retry=tenacity.retry_if_exception(_is_retryable),
            reraise=True,
        )
        try:
            return retrying(attempt_once)
        except Exception as err:
            if not _is_endpoint_failure(err):
                raise
            raise ModelEndpointError(self._explain(err, made)) from err

    # -- one attempt -------------------------------------------------------------------
    def _request_body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.settings.model, "messages": _wire_messages(messages)}
        if tools:
            body["tools"] = tools
        if self.settings.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body

    def _attempt(
        self,
        number: int,
        body: dict[str, Any],
        on_start: AttemptHook | None,
        on_end: AttemptHook | None,
        on_text: Callable[[str], None] | None,
    ) -> ModelReply:
        attempt = Attempt(number, body, self.settings.model, self.endpoint_host, time.time())
        if on_start is not None:
            on_start(attempt)
        began, ended = time.monotonic(), attempt
        try:
            reply = self._stream(body, on_text) if self.settings.stream else self._plain(body, on_text)
            ended = replace(attempt, response=reply.response, usage=reply.usage, http_status=200)
            return reply
        except BaseException as err:
            ended = replace(attempt, error=self._describe(err), http_status=_status_of(err),
                            interrupted=isinstance(err, KeyboardInterrupt))
            raise
        finally:
            if on_end is not None:
                on_end(replace(ended, latency_ms=int((time.monotonic() - began) * 1000)))

    def _stream(self, body: dict[str, Any], on_text: Callable[[str], None] | None) -> ModelReply:
        assembler = _StreamAssembler()
        with self._client.chat.completions.create(**body) as stream:
            for chunk in stream:
                text = assembler.add(chunk)
                if text and on_text is not None:
                    on_text(text)
        if assembler.finish_reason is None:
            raise _IncompleteStreamError("the stream ended before the model finished its answer")
        return reply_from_response(assembler.response())

    def _plain(self, body: dict[str, Any], on_text: Callable[[str], None] | None) -> ModelReply:
        completion = self._client.chat.completions.create(**body)
        reply = reply_from_response(completion.model_dump(mode="json", exclude_unset=True))
        if reply.content and on_text is not None:
            on_text(reply.content)
        return reply

    # -- retry policy and messages ---------------------------------------------------------
    def _wait(self, retry_state: Any) -> float:
        """Seconds before the next attempt: the server's hint, else capped backoff."""
        import tenacity

        cap = self.settings.retry_max_wait
        hinted = _retry_after(retry_state.outcome.exception())
        if hinted is not None:
            return min(max(hinted, 0.0), cap)
        return float(tenacity.wait_exponential_jitter(max=cap, jitter=1)(retry_state))

    def _redact(self, text: str) -> str:
        key = self.settings.api_key
        return text.replace(key, "***") if key and len(key) >= 4 else text

    def _describe(self, err: BaseException) -> str:
        """One line naming what went wrong in an attempt (the key redacted)."""
        import openai

        if isinstance(err, openai.APIStatusError):
            text = f"HTTP {err.status_code}: {_server_message(err)}"
        elif isinstance(err, openai.APITimeoutError):
            text = f"timed out after {self.settings.timeout:g}s"
        elif isinstance(err, openai.APIConnectionError):
            text = f"connection error: {_root_cause(err)}"
        elif isinstance(err, KeyboardInterrupt):
            text = "interrupted"
        else:
            text = f"{type(err).__name__}: {err}"
        return self._redact(" ".join(text.split()))[:500]

    def _explain(self, err: Exception, attempts: int) -> str:
        """The one line a user sees once the call has failed for good."""
        host, model = self.endpoint_host, self.settings.model
        status = _status_of(err)
        if _is_retryable(err):
            if _is_unreachable(err):
                return (
                    f"could not reach {host} after {attempts} attempts — is the server "
                    "running? check --base-url / OPENAI_BASE_URL"
                )
            return f"model endpoint {host} failed after {attempts} attempts: {self._describe(err)}"
        if status == 401:
            what = "rejected the API key" if self.settings.api_key else "requires an API key"
            return f"the endpoint at {host} {what} (401) — set OPENAI_API_KEY"
        if status == 403:
            return (
                f"the endpoint at {host} refused access (403) — check that the API key "
                f"may use model {model!r}"
            )
        if status == 404:
            return (
                f"the endpoint at {host} has no model {model!r} or no chat completions "
                f"route (404) — check --model and --base-url ({self.base_url})"
            )
        if status is not None:
            return (
                f"the endpoint at {host} rejected the request ({self._describe(err)}) — "
                "check --model and the server's log"
            )
        return f"the endpoint at {host} sent an answer agentcli could not use: {self._describe(err)}"


def _wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as strict servers accept them: tool-calling assistants get ``content: ""``."""
    wire = []
    for message in messages:
        if message.get("role") == "assistant" and "tool_calls" in message:
            message = dict(message)
            if not message["tool_calls"]:
                del message["tool_calls"]  # an empty list is refused by OpenAI
            elif message.get("content") is None:
                message["content"] = ""
        wire.append(message)
    return wire


def _is_retryable(err: BaseException) -> bool:
    import openai

    if isinstance(err, openai.APIStatusError):
        return err.status_code in (408, 409, 429) or err.status_code >= 500
    return isinstance(err, (openai.APIConnectionError, _IncompleteStreamError))


def _is_endpoint_failure(err: BaseException) -> bool:
    import openai

    return isinstance(err, (openai.APIError, _IncompleteStreamError, json.JSONDecodeError))


def _is_unreachable(err: BaseException) -> bool:
    """True when the connection could not even be opened (refused, unknown host)."""
    seen: BaseException | None = err
    while seen is not None:
        if type(seen).__name__ == "ConnectError" or isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _status_of(err: BaseException) -> int | None:
    import openai

    return err.status_code if isinstance(err, openai.APIStatusError) else None


def _root_cause(err: BaseException) -> str:
    while err.__cause__ is not None:
        err = err.__cause__
    return str(err) or type(err).__name__


def _server_message(err: Any) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else inner
        return str(message or body)
    return str(body or err.message)


def _retry_after(err: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` or ``Retry-After``)."""
    headers = getattr(getattr(err, "response", None), "headers", None)
    if headers is None:
        return None
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            return parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None
