"""The HTTP client the runner sends with when the caller injects none.

``httpx.Client()`` builds a TLS context and loads the CA bundle up front (~30 ms), which a ``totpflow run``
against ``http://127.0.0.1`` never uses. ``LazyTransport`` builds the verifying TLS set-up on the first
``https`` request instead; plain ``http`` requests go through a pool without it. Certificate verification of
``https`` requests is unchanged (httpx's own ``create_ssl_context``).

httpx's transport applies a timeout to the connect and to each read and write, so a server that sends its
response head a byte at a time, each in time, holds a request as long as it likes. ``LazyTransport`` is
httpcore's connection pool, as httpx's transport is, over a network backend whose connects, reads and writes
all end by the deadline of the exchange in progress: :func:`deadline` sets it (``HttpxSender.send`` for a
step's timeout, the document reader for a fetch), and each wait is at most what is left of it, as in
``PlainSender``. Outside :func:`deadline` the per-operation timeouts alone apply.

With a proxy named in the environment the client is httpx's own, whose transports (the proxy's, and the
direct one for ``NO_PROXY`` hosts) bound each operation only.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from totpflow.arazzo.senders.proxies import proxies_configured

# httpx's default limits for a client's connections (``httpx.Limits``' defaults and ``DEFAULT_LIMITS``).
_POOL: dict[str, Any] = {"max_connections": 100, "max_keepalive_connections": 20, "keepalive_expiry": 5.0}
_DEADLINE: ContextVar[float | None] = ContextVar("totpflow_exchange_deadline", default=None)


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Within the block, every connect, read and write of a ``LazyTransport`` in this context ends within
    ``seconds`` of its start (``None``: no deadline)."""
    token = _DEADLINE.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _within(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """``timeout``, shortened to what is left of the deadline; ``expired`` once nothing is."""
    end = _DEADLINE.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise expired("timed out")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _within(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _within(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        upgraded = self._stream.start_tls(
            ssl_context, server_hostname, _within(timeout, httpcore.ConnectTimeout)
        )
        return _DeadlineStream(upgraded)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _within(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_tcp(host, port, bounded, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        bounded = _within(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._backend.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


# httpcore's errors as httpx's, the most specific first (httpx maps them alike for its own transport).
_ERRORS: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in _ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        with _as_httpx_errors():
            yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            with _as_httpx_errors():
                close()


class LazyTransport(httpx.BaseTransport):
    """``options``: ``verify`` and ``cert`` as httpx's ``create_ssl_context`` takes them (verification on by
    default)."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._plain: httpcore.ConnectionPool | None = None
        self._tls: httpcore.ConnectionPool | None = None

    def _pool(self, tls: bool) -> httpcore.ConnectionPool:
        if tls:
            if self._tls is None:
                context = httpx.create_ssl_context(**self._options)
                self._tls = httpcore.ConnectionPool(
                    ssl_context=context, network_backend=_DeadlineBackend(), **_POOL
                )
            return self._tls
        if self._plain is None:
            # No TLS in this pool, so nothing to verify: no CA bundle is loaded for it.
            self._plain = httpcore.ConnectionPool(network_backend=_DeadlineBackend(), **_POOL)
        return self._plain

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        url = request.url
        outgoing = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = self._pool(url.scheme == "https").handle_request(outgoing)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        for pool in (self._plain, self._tls):
            if pool is not None:
                pool.close()


def new_client(**options: Any) -> httpx.Client:
    """An ``httpx.Client`` over a :class:`LazyTransport`; ``options`` are the Client's (timeout, …). With a
    proxy named in the environment, httpx's own client instead, which routes through it (and honours
    ``NO_PROXY``): httpx reads the environment's proxies only for a client given no transport.
    ``httpx.ProxyError`` when httpx cannot use that proxy (an unsupported scheme, a malformed URL, SOCKS
    without its extra)."""
    if proxies_configured():
        try:
            return httpx.Client(**options)
        except (ImportError, ValueError, httpx.InvalidURL) as exc:
            # The proxy URL is not quoted: it may hold credentials.
            hint = (
                "a SOCKS proxy needs httpx's socks extra"
                if isinstance(exc, ImportError)
                else "not a proxy URL"
            )
            raise httpx.ProxyError(
                f"the proxy HTTP_PROXY, HTTPS_PROXY or ALL_PROXY names cannot be used ({hint})"
            ) from None
    return httpx.Client(transport=LazyTransport(), **options)
