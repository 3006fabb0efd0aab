"""The model client: one Chat Completions call, streamed, retried and audited (SPEC §2).

``openai`` and ``tenacity`` are imported inside functions so ``agentcli --help`` stays
instant. One retry layer: tenacity here, ``max_retries=0`` in the SDK. Each attempt is
told to an :class:`~agentcli.agent.model.protocol.AttemptLog` before it is sent and
when it ends, with the reply parsed once.

The HTTP exchange runs on a short-lived reader thread while the calling thread waits on
its chunks, so a :class:`~agentcli.agent.cancel.CancelToken` stops a call at once, even
one stalled inside a socket read.

Example::

    client = ModelClient(ModelSettings(model="gpt-4o-mini", base_url=None, api_key=key))
    reply = client.complete(messages, tools, log=audit, on_text=print_delta, cancel=token)
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any

from agentcli.agent.cancel import NEVER, Cancelled, CancelToken
from agentcli.agent.model.endpoint import (
    LOCAL_REFUSED_WAITS,
    endpoint_host,
    is_local,
    public_url,
    split_query,
)
from agentcli.agent.model.gate import RateGate
from agentcli.agent.model.protocol import Attempt, AttemptLog
from agentcli.agent.model.reply import (
    IncompleteReplyError,
    MalformedReplyError,
    ModelReply,
    StreamAssembler,
    reply_from_response,
)
from agentcli.agent.model.sse import json_answer, json_piece, sse_data
from agentcli.agent.model.transport import Aborter, transport
from agentcli.agent.model.wire import RequestEncoder, request_body
from agentcli.errors import ModelEndpointError

NO_KEY_PLACEHOLDER = "sk-no-key"
"""Sent when no API key is configured: the SDK refuses None, local servers ignore keys."""

_WAKE_SECONDS = 0.05  # how often a waiting caller looks at its cancel token
_READER_JOIN_SECONDS = 1.0  # a cut attempt's reader thread ends within this (it is a daemon if not)
_QUEUED_PIECES = 64  # pieces the reader may be ahead of the caller: memory stays bounded


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
    idle_timeout: float = 120.0  # seconds without a byte of the answer before the attempt is given up
    attempt_deadline: float = 900.0  # seconds one attempt may take in all, trickling or not


class StalledReplyError(Exception):
    """The endpoint stopped sending (idle timeout) or trickled past the attempt's deadline."""


class ModelClient:
    """Calls an OpenAI-compatible Chat Completions endpoint with retries (a :class:`Model`).

    An empty ``api_key`` is replaced by ``NO_KEY_PLACEHOLDER`` so local servers that
    need no key still work; a real endpoint then answers 401, reported as such.
    ``sleep`` waits between attempts (default: the call's cancel token, so a cancel
    cuts a back-off short); tests inject a recorder.
    """

    def __init__(self, settings: ModelSettings, *, sleep: Callable[[float], None] | None = None,
                 gate: RateGate | None = None):
        import openai

        self.settings = settings
        self.name = settings.model
        self._sleep = sleep
        base_url, query = split_query(settings.base_url)
        self._encoder = RequestEncoder()  # each message's JSON, encoded once
        self._gate = gate  # shared with the session's other clients: one Retry-After holds them all
        # Connections a cancel can cut while a reader waits for the first byte (transport.py).
        self._aborter = Aborter()
        if base_url and base_url.lower().startswith("http://"):
            # Plain HTTP (a local server): no TLS, so no certificate store to load (~0.1 s of
            # the start). Redirects are not followed, so nothing can lead on to an https URL
            # that this client would not verify.
            http_client = openai.DefaultHttpxClient(transport=transport(self._aborter, verify=False),
                                                    follow_redirects=False)
        else:
            http_client = openai.DefaultHttpxClient(transport=transport(self._aborter))
        self._client = openai.OpenAI(
            api_key=settings.api_key or NO_KEY_PLACEHOLDER,
            base_url=base_url,
            default_query=query or None,  # "?api-version=..." in a base URL goes on every request
            timeout=settings.timeout,
            max_retries=0,
            http_client=http_client,
        )
        # shown in messages and logged: never the credentials a URL may carry
        self.base_url = public_url(str(self._client.base_url))
        self.endpoint_host = endpoint_host(self.base_url)
        self._local = is_local(self.base_url)

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    def for_model(self, model: str) -> ModelClient:
        """A client of another model on the same endpoint (scouts' ``--scout-model``): it
        shares this one's connections, retry policy and rate gate; closing either closes both."""
        twin = copy.copy(self)
        twin.settings = replace(self.settings, model=model)
        twin.name = model
        return twin

    # -- probes for ``agentcli doctor`` ------------------------------------------------------
    def list_models(self) -> list[str]:
        """The model ids the endpoint's ``GET /models`` lists (one attempt, no retries).

        Raises:
            ModelEndpointError: the one line a failed run would show.
        """
        try:
            return [model.id for model in self._client.models.list()]
        except Exception as err:
            if not _is_endpoint_failure(err):
                raise
            raise ModelEndpointError(self._explain(err, 1)) from err

    def accepts_tools(self) -> str | None:
        """Send one tiny request offering one tool (one attempt); None when it is accepted,
        else the reason it was refused. Costs a few tokens."""
        schema = {"type": "object", "properties": {}}
        tool = {"type": "function", "function": {"name": "ping", "description": "Answers pong.",
                                                 "parameters": schema}}
        try:
            self._client.chat.completions.create(
                model=self.settings.model, tools=[tool],  # type: ignore[list-item]
                messages=[{"role": "user", "content": "Reply with the single word OK."}],
            )
        except Exception as err:
            if not _is_endpoint_failure(err):
                raise
            return self._explain(err, 1)
        return None

    def complete(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        *,
        log: AttemptLog | None = None,
        on_text: Callable[[str], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> ModelReply:
        """Send one request, retrying transient failures.

        ``log`` hears of each attempt right before it is sent and when it ends.
        ``on_text`` gets text deltas as they stream (the whole text at once when not
        streaming); a retried attempt streams its text again from the start.

        Raises:
            ModelEndpointError: the endpoint failed for good (after retries, or a 4xx).
            Cancelled: ``cancel`` was set; the attempt in flight is logged interrupted.
        """
        import tenacity

        cancel = cancel or NEVER
        body = self._request_body(messages, tools)
        failed: list[Attempt] = []  # the last failed attempt, for the retry notice

        def notice(state: Any) -> None:
            if log is not None and failed and hasattr(log, "retrying"):
                allowed = self.attempts_for(state.outcome.exception())
                log.retrying(replace(failed[-1], allowed=allowed),
                             state.next_action.sleep if state.next_action else 0.0)

        retrying = tenacity.Retrying(
            before_sleep=notice,
            sleep=self._sleep or cancel.sleep,
            stop=lambda state: state.attempt_number >= self.attempts_for(state.outcome.exception()),
            wait=self._wait,
            retry=tenacity.retry_if_exception(_is_retryable),
            reraise=True,
        )
        number = 0
        try:
            for state in retrying:
                with state:
                    number = state.retry_state.attempt_number
                    return self._attempt(number - 1, body, log, on_text, cancel, failed)
        except Cancelled:
            raise
        except Exception as err:
            if not _is_endpoint_failure(err):
                raise
            failure = ModelEndpointError(self._explain(err, number))
            failure.refused = _is_refusal(err)
            raise failure from err
        raise AssertionError("unreachable: tenacity either returns or raises")

    # -- one attempt -------------------------------------------------------------------
    def _request_body(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> dict[str, Any]:
        return request_body(self.settings.model, messages, tools, stream=self.settings.stream)

    def _attempt(self, number: int, body: dict[str, Any], log: AttemptLog | None,
                 on_text: Callable[[str], None] | None, cancel: CancelToken,
                 failed: list[Attempt]) -> ModelReply:
        cancel.check()
        if self._gate is not None:
            self._gate.wait(cancel)
        attempt = Attempt(number, body, self.settings.model, self.endpoint_host, time.time())
        if log is not None:
            log.started(attempt)
        began = time.monotonic()
        try:
            reply = self._exchange(body, on_text, cancel)
        except BaseException as err:
            ended = replace(attempt, error=self._describe(err), http_status=_status_of(err),
                            interrupted=isinstance(err, (Cancelled, KeyboardInterrupt)),
                            latency_ms=_since(began))
            failed.append(ended)
            if log is not None:
                log.ended(ended, None)
            raise
        if log is not None:
            log.ended(replace(attempt, response=reply.response, usage=reply.usage, http_status=200,
                              latency_ms=_since(began)), reply)
        return reply

    def _exchange(self, body: dict[str, Any], on_text: Callable[[str], None] | None,
                  cancel: CancelToken) -> ModelReply:
        """Run the HTTP exchange on a reader thread; take its pieces here, watching ``cancel``,
        the idle timeout between pieces and the attempt's overall deadline."""
        pieces: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=_QUEUED_PIECES)
        opened: list[Any] = []
        stop = threading.Event()  # set when this attempt is over, however it ended
        payload = self._encoder.encode(body)
        reader = threading.Thread(target=self._read, args=(payload, pieces, opened, stop),
                                  name="agentcli-model-reader", daemon=True)
        reader.start()
        answered = False
        try:
            reply = self._take(pieces, on_text, cancel)
            answered = True
            return reply
        finally:
            stop.set()  # the reader stops reading and hands nothing more over
            if not answered:
                self._cut(reader, opened)
            _close_quietly(opened)

    def _take(self, pieces: queue.Queue[tuple[str, Any]], on_text: Callable[[str], None] | None,
              cancel: CancelToken) -> ModelReply:
        """The reply the reader's pieces add up to (see :meth:`_exchange`)."""
        assembler = StreamAssembler()
        began = last = time.monotonic()
        idle, deadline = self.settings.idle_timeout, self.settings.attempt_deadline
        while True:
            try:
                kind, item = pieces.get(timeout=_WAKE_SECONDS)
            except queue.Empty:
                kind, item = "wait", None
            if kind == "wait":
                now = time.monotonic()
                stalled = (f"no data from the endpoint for {idle:g} s" if now - last > idle else
                           f"the answer took longer than {deadline:g} s" if now - began > deadline else "")
                if cancel.cancelled or stalled:
                    cancel.check()
                    raise StalledReplyError(stalled)
                continue
            last = time.monotonic()
            if kind == "chunk":
                text = assembler.add(item)
                if text and on_text is not None:
                    on_text(text)
            elif kind == "completion":
                reply = reply_from_response(item)
                if reply.content and on_text is not None:
                    on_text(reply.content)
                return reply
            elif kind == "error":
                raise item
            else:  # the stream ended
                if assembler.finish_reason is None:
                    if not assembler.chunks:
                        raise IncompleteReplyError("the stream ended without a single chunk")
                    raise IncompleteReplyError("the stream ended before the model finished its answer")
                return reply_from_response(assembler.response())

    def _cut(self, reader: threading.Thread, opened: list[Any]) -> None:
        """Stop the attempt the reader thread is making: shut its connection down (also when
        no byte of an answer has come yet), close the response, and let the thread end."""
        self._aborter.abort(reader.ident)
        _close_quietly(opened)
        reader.join(_READER_JOIN_SECONDS)

    def _read(self, payload: bytes, pieces: queue.Queue[tuple[str, Any]], opened: list[Any],
              stop: threading.Event) -> None:
        """POST the prepared bytes (no per-message transform: its cost grew with the
        session) and hand each parsed piece over; the SDK still does auth, URL, errors.

        The body is always read as a stream, a non-streamed one too, so no answer is read
        past ``MAX_EVENT_BYTES`` at once; ``stop`` ends the reading."""

        def hand(kind: str, item: Any) -> bool:
            while not stop.is_set():  # a full queue waits for the caller (bounded memory)
                try:
                    pieces.put((kind, item), timeout=_WAKE_SECONDS)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            response = self._client.post("/chat/completions", cast_to=http_library().Response,
                                         content=payload, stream=True)
            opened.append(response)
            if stop.is_set():  # the caller gave up while the request was being sent
                return
            if not self.settings.stream:
                hand("completion", json_answer(response))
                return
            for data in sse_data(response):
                if data == "[DONE]":
                    break
                if not hand("chunk", json_piece(data)):
                    return
            hand("end", None)
        except BaseException as err:  # handed to the waiting thread, which raises it
            hand("error", err)
        finally:
            _close_quietly(opened)

    # -- retry policy and messages ---------------------------------------------------------
    def _refused_here(self, err: BaseException | None) -> bool:
        """A connection to a local endpoint that could not be opened: nothing listens."""
        return self._local and err is not None and _is_unreachable(err)

    def attempts_for(self, err: BaseException | None) -> int:
        """How many attempts a call failing with ``err`` gets in all: ``max_attempts``, or
        at most three when a local endpoint refused the connection."""
        attempts = max(1, self.settings.max_attempts)
        if self._refused_here(err):
            return min(attempts, len(LOCAL_REFUSED_WAITS) + 1)
        return attempts

    def _wait(self, retry_state: Any) -> float:
        """Seconds before the next attempt: the server's hint, else capped backoff (the short
        local schedule when a local endpoint refused the connection)."""
        import tenacity

        cap = self.settings.retry_max_wait
        if self._refused_here(retry_state.outcome.exception()):
            step = min(retry_state.attempt_number, len(LOCAL_REFUSED_WAITS)) - 1
            return min(LOCAL_REFUSED_WAITS[step], cap)
        hinted = _retry_after(retry_state.outcome.exception())
        if hinted is not None:
            seconds = min(max(hinted, 0.0), cap)
            if self._gate is not None:
                self._gate.hold(seconds)
            return seconds
        return float(tenacity.wait_exponential_jitter(max=cap, jitter=1)(retry_state))

    def _redact(self, text: str) -> str:
        key = self.settings.api_key
        return text.replace(key, "***") if key and len(key) >= 4 else text

    def _describe(self, err: BaseException) -> str:
        """One line naming what went wrong in an attempt (the key redacted)."""
        import openai

        http = http_library()
        if isinstance(err, openai.APIStatusError):
            text = f"HTTP {err.status_code}: {_server_message(err)}"
        elif isinstance(err, (openai.APITimeoutError, http.TimeoutException)):
            text = f"timed out after {self.settings.timeout:g}s"
        elif isinstance(err, (openai.APIConnectionError, http.TransportError)):
            text = f"connection error: {_root_cause(err)}"
        elif isinstance(err, (Cancelled, KeyboardInterrupt)):
            text = "interrupted"
        elif isinstance(err, (IncompleteReplyError, MalformedReplyError, StalledReplyError)):
            text = str(err)
        else:
            text = f"{type(err).__name__}: {err}"
        return self._redact(" ".join(text.split()))[:500]

    def _explain(self, err: Exception, attempts: int) -> str:
        """The one line a user sees once the call has failed for good."""
        host, model = self.endpoint_host, self.settings.model
        status = _status_of(err)
        said = self._redact(" ".join(_server_message(err).split()))[:300] if status else ""
        if _is_retryable(err):
            if _is_unreachable(err):
                tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
                return (
                    f"cannot connect to {host} ({_refusal(err)}; {tries}) — is the server running? "
                    "check --base-url / OPENAI_BASE_URL (agentcli doctor probes it)"
                )
            return f"model endpoint {host} failed after {attempts} attempts: {self._describe(err)}"
        if status == 401:
            if self.settings.api_key:
                return (f"the endpoint at {host} rejected the API key (401: {said}) — OPENAI_API_KEY "
                        "is set but not accepted there: check the key, and that --base-url is its endpoint")
            return f"the endpoint at {host} requires an API key (401: {said}) — set OPENAI_API_KEY"
        if status == 400 and _is_context_overflow(said):
            return (f"the request is longer than model {model!r} accepts (400: {said}) — set "
                    "--context-window to the model's context size (in tokens) so agentcli sends less")
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


def _is_retryable(err: BaseException) -> bool:
    import openai

    if isinstance(err, openai.APIStatusError):
        return err.status_code in (408, 409, 429) or err.status_code >= 500
    # a stream is read by us, not the SDK: its transport errors arrive as httpx's own
    return isinstance(err, (openai.APIConnectionError, http_library().TransportError, IncompleteReplyError,
                            StalledReplyError))


def _is_refusal(err: BaseException) -> bool:
    """A 4xx answer that retrying cannot change (a bad key, model, URL or request)."""
    import openai

    return isinstance(err, openai.APIStatusError) and 400 <= err.status_code < 500 and not _is_retryable(err)


def _is_endpoint_failure(err: BaseException) -> bool:
    import openai

    return isinstance(err, (openai.APIError, http_library().TransportError, IncompleteReplyError,
                            StalledReplyError, MalformedReplyError))


def http_library() -> Any:
    """The HTTP library the ``openai`` SDK is built on: ``httpx``, or ``httpx2`` in newer
    releases. We read streams ourselves, so we meet its response and error classes."""
    try:
        import httpx2 as http
    except ImportError:  # older SDKs
        import httpx as http  # type: ignore[no-redef]
    return http


def _is_unreachable(err: BaseException) -> bool:
    """True when the connection could not even be opened (refused, unknown host)."""
    seen: BaseException | None = err
    while seen is not None:
        if type(seen).__name__ == "ConnectError" or isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


_OVERFLOW_HINTS = ("context length", "context_length", "context window", "maximum context", "n_ctx",
                   "too many tokens", "prompt is too long", "exceeds the context")


def _is_context_overflow(message: str) -> bool:
    """True when a 400's message says the request does not fit the model's context."""
    lowered = message.lower()
    return any(hint in lowered for hint in _OVERFLOW_HINTS)


def _refusal(err: BaseException) -> str:
    """``connection refused`` / ``name not resolved``: what stopped the connection, briefly."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if "Name or service not known" in str(seen) or "nodename nor servname" in str(seen):
            return "unknown host"
        seen = seen.__cause__ or seen.__context__
    return "no connection"


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


def _since(began: float) -> int:
    return int((time.monotonic() - began) * 1000)


def _close_quietly(opened: list[Any]) -> None:
    for stream in opened:
        try:
            stream.close()
        except Exception:  # closing a half-read response from another thread may complain
            pass
