"""``PlainSender``: plain ``http://`` requests with the standard library's ``http.client``.

One kept-alive connection per origin. The request line and header fields are written as given (``Host``,
``User-Agent``, ``Accept``, ``Connection`` and ``Content-Length`` are added unless the caller set them), so
``Outgoing.headers`` is exactly what went out. No ``Accept-Encoding`` is sent; a body that arrives in a
content coding all the same (the step asked for it, or the server sends it unasked) is decoded as httpx
decodes it (``content_coding``), so a step reads the same body whichever sender sends it.
``timeout`` bounds the whole exchange: the connect, writing the request and reading the whole response end by
one deadline, so a server that answers a few bytes at a time, each in time, cannot hold a step longer than its
timeout (every read and write waits at most for what is left of it). A kept-alive connection is checked before
it is used again: one the server has closed (it is readable while idle) is replaced by a new one. Should the
server close it in the instant between that check and the request, an idempotent request (RFC 9110 §9.2.2) is
sent once more on a new connection; any other fails with the error, as it may have been processed.
"""

from __future__ import annotations

import http.client
import select
import socket
import time
from typing import Any
from urllib.parse import quote, urlsplit

from totpflow import __version__
from totpflow.arazzo.senders.content_coding import decoded
from totpflow.arazzo.senders.wire import MAX_RESPONSE_BYTES, HttpFailure, Outgoing, Reply, too_large

USER_AGENT = f"totpflow/{__version__}"
# characters allowed unescaped in a request target (RFC 3986 pchar, "/" and "?", and "%" of an escape)
_TARGET_SAFE = "/?:@!$&'()*+,;=-._~%"
_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ConnectionAbortedError)
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_READ_SIZE = 65536


def _dropped(sock: socket.socket) -> bool:
    """Whether an idle kept-alive connection was closed by the server (it then reads as end of file)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class _DeadlineSocket(socket.socket):
    """A socket whose reads and writes all end by ``deadline`` (``time.monotonic()``): each waits at most for
    what is left of it, and none starts once it has passed. ``http.client`` reads a response through the
    socket's ``recv_into`` and writes a request with ``sendall``."""

    __slots__ = ("deadline",)

    def __init__(self, family: int = -1, type: int = -1, proto: int = -1, fileno: int | None = None) -> None:
        super().__init__(family, type, proto, fileno)  # the signature of socket.socket, which dup() calls
        self.deadline: float | None = None

    def _in_time(self) -> None:
        if self.deadline is None:
            return
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out")
        self.settimeout(left)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._in_time()
        return super().recv_into(buffer, nbytes, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._in_time()
        super().sendall(data, flags)


def _connect(
    address: tuple[str, int], timeout: float | None = None, source_address: tuple[str, int] | None = None
) -> _DeadlineSocket:
    """``socket.create_connection`` with an ASCII host name passed as bytes: given a ``str``, the resolver
    first encodes it with the ``idna`` codec, whose import (with ``stringprep`` and ``unicodedata``) is a
    measurable part of a short run's start-up. Other host names go through unchanged. The connected socket
    is a :class:`_DeadlineSocket`."""
    host, port = address
    target: tuple[str | bytes, int] = (host.encode("ascii"), port) if host.isascii() else address
    connected = socket.create_connection(target, timeout, source_address)  # type: ignore[arg-type]
    sock = _DeadlineSocket(fileno=connected.detach())
    sock.settimeout(timeout)  # a socket made from a descriptor starts without the timeout
    return sock


def _read_body(response: http.client.HTTPResponse, limit: int) -> bytes | None:
    """The whole body, or None once it is known to be longer than ``limit`` bytes: at once from its
    ``Content-Length``, else (chunked, or up to the connection's end) once that much has arrived."""
    if response.length is not None:
        return None if response.length > limit else response.read()
    chunks = []
    received = 0
    while chunk := response.read1(_READ_SIZE):
        received += len(chunk)
        if received > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class PlainSender:
    """``max_body``: the longest response body it reads (``wire.MAX_RESPONSE_BYTES``)."""

    def __init__(self, *, max_body: int = MAX_RESPONSE_BYTES) -> None:
        self._connections: dict[tuple[str, int], http.client.HTTPConnection] = {}
        self.max_body = max_body

    def build(
        self, method: str, url: str, headers: list[tuple[str, str]], content: bytes | None, timeout: float
    ) -> Outgoing:
        try:
            parts = urlsplit(url)
            port = parts.port or 80
        except ValueError as exc:
            raise HttpFailure(f"InvalidURL: {exc}") from None
        if parts.scheme.lower() != "http" or not parts.hostname:
            raise HttpFailure(f"InvalidURL: {url!r} is not an http:// URL with a host")
        given = {name.lower() for name, _ in headers}
        host = parts.netloc.rpartition("@")[2]
        out = [("Host", host)] if "host" not in given else []
        out.extend(
            (name, value)
            for name, value in (("Accept", "*/*"), ("Connection", "keep-alive"), ("User-Agent", USER_AGENT))
            if name.lower() not in given
        )
        out.extend(headers)
        if content is not None and "content-length" not in given and "transfer-encoding" not in given:
            out.append(("Content-Length", str(len(content))))
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        if not (target.isascii() and target.isprintable() and " " not in target):
            target = quote(target, safe=_TARGET_SAFE)
        normalized = f"http://{host}{target}"
        request = Outgoing(method, normalized, tuple(out), content, sender=self)
        request.native = (parts.hostname, port, target, timeout)
        return request

    def send(self, request: Outgoing) -> Reply:
        hostname, port, target, timeout = request.native
        key = (hostname, port)
        connection = self._connections.get(key)
        if connection is None:
            connection = self._connections[key] = http.client.HTTPConnection(hostname, port, timeout=timeout)
            connection._create_connection = _connect  # type: ignore[attr-defined]
        elif connection.sock is not None and _dropped(connection.sock):
            connection.close()  # reconnects on the next request
        reused = connection.sock is not None
        deadline = time.monotonic() + timeout
        try:
            return self._exchange(connection, request, target, deadline)
        except _STALE as exc:
            connection.close()
            if not (reused and request.method.upper() in _IDEMPOTENT):
                raise HttpFailure(f"{type(exc).__name__}: {exc}") from None
        except HttpFailure:
            # A request that failed half-written (a header value http.client cannot encode, after the request
            # line was buffered) must not go out ahead of the next request: a new connection object, with
            # nothing buffered, serves the origin from now on.
            del self._connections[key]
            raise
        try:  # closed by the server just now: an idempotent request once more, on a new connection
            return self._exchange(connection, request, target, deadline)
        except _STALE as exc:
            connection.close()
            raise HttpFailure(f"{type(exc).__name__}: {exc}") from None
        except HttpFailure:
            del self._connections[key]
            raise

    def _exchange(
        self, connection: http.client.HTTPConnection, request: Outgoing, target: str, deadline: float
    ) -> Reply:
        try:
            if connection.sock is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("timed out")
                connection.timeout = left
                connection.connect()
            sock = connection.sock
            assert isinstance(sock, _DeadlineSocket)  # made by _connect
            sock.deadline = deadline
            connection.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
            for name, value in request.headers:
                connection.putheader(name, value)
            connection.endheaders(request.content)
            response = connection.getresponse()
            body = _read_body(response, self.max_body)
            if body is not None:
                body = decoded(body, response.getheader("Content-Encoding"), self.max_body)
        except _STALE:
            raise
        except TimeoutError:
            connection.close()
            raise HttpFailure("request timed out", timeout=True) from None
        except (OSError, http.client.HTTPException, ValueError) as exc:  # refused, DNS, bad header, protocol
            connection.close()
            raise HttpFailure(f"{type(exc).__name__}: {exc}") from None
        if body is None:
            connection.close()  # the rest of the body is never read
            raise too_large(self.max_body)
        if response.will_close:
            connection.close()
        version = "HTTP/1.0" if response.version == 10 else "HTTP/1.1"
        return Reply(response.status, tuple(response.getheaders()), body, version)

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()
