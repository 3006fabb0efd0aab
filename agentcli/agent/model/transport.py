"""An HTTP transport whose requests can be cut short from another thread.

A model request runs on a reader thread (see ``client.py``) so that a cancel is seen at
once; but a reader blocked in a socket read — waiting for a server that has not sent a
byte yet — cannot be woken by closing the response it does not have. This transport
keeps, for each thread, the connection it is reading or writing at this moment, so
:meth:`Aborter.abort` can shut that socket down: the blocked read returns, the reader
thread ends, and the server sees the connection close (a one-slot local server is free
again). It is built only on the public API of the SDK's HTTP libraries: ``httpcore``'s
``ConnectionPool`` with a network backend of our own, behind an ``httpx`` transport.

Example:
    >>> aborter = Aborter()
    >>> client = openai.OpenAI(http_client=openai.DefaultHttpxClient(transport=transport(aborter)))
    >>> aborter.abort(reader_thread.ident)   # from the waiting thread, on a cancel
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterable, Iterator
from typing import Any


def http_libraries() -> tuple[Any, Any]:
    """``(httpx, httpcore)`` as the installed ``openai`` SDK uses them (``httpx2`` and
    ``httpcore2`` in newer releases)."""
    try:
        import httpcore2 as core
        import httpx2 as http
    except ImportError:  # older SDKs
        import httpcore as core  # type: ignore[no-redef]
        import httpx as http  # type: ignore[no-redef]
    return http, core


class Aborter:
    """Which connection each thread is using now, and a way to cut it."""

    def __init__(self) -> None:
        self._using: dict[int, Any] = {}
        self._lock = threading.Lock()

    def enter(self, stream: Any) -> None:
        """The current thread starts reading or writing ``stream``."""
        with self._lock:
            self._using[threading.get_ident()] = stream

    def leave(self) -> None:
        """The current thread is done with its read or write."""
        with self._lock:
            self._using.pop(threading.get_ident(), None)

    def abort(self, thread_id: int | None) -> bool:
        """Shut down the socket thread ``thread_id`` is blocked on, if it is on one now;
        True when a socket was shut down."""
        if thread_id is None:
            return False
        with self._lock:
            stream = self._using.get(thread_id)
        sock = stream.get_extra_info("socket") if stream is not None else None
        if sock is None:
            return False
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # already closed
            return False
        return True


def transport(aborter: Aborter, *, verify: bool = True) -> Any:
    """An ``httpx`` transport whose connections ``aborter`` can cut; ``verify`` False for a
    plain-HTTP endpoint (no certificate store is loaded for it)."""
    http, core = http_libraries()
    ssl_context = http.create_ssl_context() if verify else None
    pool = core.ConnectionPool(ssl_context=ssl_context, max_connections=100, max_keepalive_connections=20,
                               keepalive_expiry=5.0, network_backend=_backend(core, aborter))
    return _transport_class(http, core)(pool)


def _backend(core: Any, aborter: Aborter) -> Any:
    """A network backend whose streams tell ``aborter`` when a thread uses them."""

    class TrackedStream(core.NetworkStream):
        def __init__(self, inner: Any):
            self._inner = inner

        def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
            aborter.enter(self._inner)
            try:
                return self._inner.read(max_bytes, timeout)
            finally:
                aborter.leave()

        def write(self, buffer: bytes, timeout: float | None = None) -> None:
            aborter.enter(self._inner)
            try:
                self._inner.write(buffer, timeout)
            finally:
                aborter.leave()

        def close(self) -> None:
            self._inner.close()

        def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                      timeout: float | None = None) -> Any:
            return TrackedStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

        def get_extra_info(self, info: str) -> Any:
            return self._inner.get_extra_info(info)

    class TrackedBackend(core.NetworkBackend):
        def __init__(self) -> None:
            self._inner = core.SyncBackend()

        def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                        local_address: str | None = None, socket_options: Iterable[Any] | None = None) -> Any:
            return TrackedStream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

        def connect_unix_socket(self, path: str, timeout: float | None = None,
                                socket_options: Iterable[Any] | None = None) -> Any:
            return TrackedStream(self._inner.connect_unix_socket(path, timeout, socket_options))

        def sleep(self, seconds: float) -> None:
            self._inner.sleep(seconds)

    return TrackedBackend()


def _transport_class(http: Any, core: Any) -> type:
    """``httpx`` transport over a ``httpcore`` pool, mapping its errors to ``httpx``'s (the
    SDK tells connection failures and timeouts apart by those classes)."""
    errors = [(getattr(core, name), getattr(http, name)) for name in (
        "ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException", "ConnectError",
        "ReadError", "WriteError", "NetworkError", "ProxyError", "UnsupportedProtocol",
        "LocalProtocolError", "RemoteProtocolError", "ProtocolError")]

    def mapped(err: Exception) -> Exception:
        for core_error, http_error in errors:  # the most specific first
            if isinstance(err, core_error):
                return http_error(str(err))
        return err

    class Body(http.SyncByteStream):
        def __init__(self, stream: Any):
            self._stream = stream

        def __iter__(self) -> Iterator[bytes]:
            try:
                yield from self._stream
            except Exception as err:
                raise mapped(err) from err

        def close(self) -> None:
            self._stream.close()

    class CancellableTransport(http.BaseTransport):
        def __init__(self, pool: Any):
            self._pool = pool

        def handle_request(self, request: Any) -> Any:
            url = request.url
            sent = core.Request(method=request.method, url=core.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
                headers=request.headers.raw, content=request.stream, extensions=request.extensions)
            try:
                answered = self._pool.handle_request(sent)
            except Exception as err:
                raise mapped(err) from err
            return http.Response(status_code=answered.status, headers=answered.headers,
                                 stream=Body(answered.stream), extensions=answered.extensions)

        def close(self) -> None:
            self._pool.close()

    return CancellableTransport
