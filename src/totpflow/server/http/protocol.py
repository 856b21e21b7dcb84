"""The HTTP/1.1 protocol uvicorn runs the app with: httptools' C parser, ``TCP_NODELAY`` on every accepted
connection, a bound on the size of a request head, and the Stytch error body for requests refused before the
app runs.

asyncio turns Nagle's algorithm off only for sockets created with ``proto=IPPROTO_TCP``; the listening socket
uvicorn shares between ``--workers`` processes is created with ``proto=0``, so without this every response
written in two parts (headers, then body) waited for the client's delayed ACK: about 40 ms per request.
uvicorn writes a response's head and its body separately; :class:`CoalescingTransport` sends what is written
in one turn of the event loop in one ``send``, so a response leaves as one segment, for one system call
rather than two.

httptools buffers a header field whole before handing it over, and uvicorn sets no bound, so the bytes of
each request head (request line and header fields) are counted here as they arrive: past
``totpflow.server.http.headers.MAX_HEAD_BYTES`` the request is answered ``431`` and no more of it is parsed.
Nor does uvicorn bound the time a head takes: a new connection must send its first request's head within
:data:`HEAD_TIMEOUT_SECONDS`, and a kept-alive one each later head within as long of its first byte
(``408`` otherwise, and the connection closed), so a client that sends a head a byte at a time, or nothing
at all, holds no connection for longer. (A kept-alive connection idle between requests is closed by
uvicorn's keep-alive timeout.)

Pass ``PROTOCOL`` (an import string, so worker processes can import it) as uvicorn's ``http`` setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import httptools  # noqa: F401  (the C parser HttpToolsProtocol needs; a dependency of this package)
import msgspec
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from totpflow.server import errors
from totpflow.server.http.errors import HeadTimeout, error_body
from totpflow.server.http.headers import MAX_HEAD_BYTES, too_large

PROTOCOL = "totpflow.server.http.protocol:NoDelayProtocol"
END_OF_HEAD = b"\r\n\r\n"
HEAD_TIMEOUT_SECONDS = 30.0


def error_response(status_line: bytes, exc: errors.ServerError) -> bytes:
    """A whole ``Connection: close`` response carrying the Stytch error body of ``exc``."""
    body = msgspec.json.encode(error_body(exc))
    return (
        b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s"
        % (status_line, len(body), body)
    )


class CoalescingTransport:
    """A transport whose writes within one turn of the event loop go out in one ``write`` of the transport
    below, at the end of that turn (or at once before a close or a half-close). Once half-closed, a write
    goes straight to the transport below, which refuses it in the caller's ``write`` as it would have
    without this one (a refusal at the end of the turn would reach only the loop's log). Everything else is
    the transport below's."""

    __slots__ = ("_half_closed", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None
        self._half_closed = False

    def write(self, data: bytes) -> None:
        if self._half_closed:
            self._transport.write(data)
            return
        if not data:
            return
        if self._pending is None:
            self._pending = [data]
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def get_write_buffer_size(self) -> int:
        pending = 0 if self._pending is None else sum(len(data) for data in self._pending)
        return self._transport.get_write_buffer_size() + pending

    def write_eof(self) -> None:
        self.flush()
        self._half_closed = True
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = None
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class NoDelayProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with Nagle's algorithm off and a bounded request head."""

    # Bytes of the current request head received so far; None while a body is being received.
    head_bytes: int | None = 0
    refused = False
    head_timeout = HEAD_TIMEOUT_SECONDS
    head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        coalescing = CoalescingTransport(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        super().connection_made(coalescing)  # type: ignore[arg-type]
        self.start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stop_head_timer()
        super().connection_lost(exc)

    def start_head_timer(self) -> None:
        self.stop_head_timer()
        self.head_timer = self.loop.call_later(self.head_timeout, self.head_timed_out)

    def stop_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def head_timed_out(self) -> None:
        """Answer 408 and close: the head did not arrive in time (no request reached the app)."""
        self.head_timer = None
        if self.refused or self.transport.is_closing():
            return
        self.refused = True
        self.transport.write(error_response(b"408 Request Timeout", HeadTimeout(f"{self.head_timeout:g}")))
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return  # the rest of a refused request is read and dropped until the client closes
        if self.head_bytes is not None:
            if self.head_bytes == 0 and self.head_timer is None and data:
                self.start_head_timer()  # the first byte of a kept-alive connection's next head
            end = data.find(END_OF_HEAD)
            # A marker split between two reads is found in neither: counted whole, at most 3 bytes too many.
            self.head_bytes += len(data) if end < 0 else end + len(END_OF_HEAD)
            if self.head_bytes > MAX_HEAD_BYTES:
                self.refuse_head()
                return
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self.head_bytes = None
        self.stop_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self.head_bytes = 0  # the next bytes begin the next request's head

    def refuse_head(self) -> None:
        """Answer 431 and stop parsing. The write side is shut after the response and what the client still
        sends is dropped, rather than the socket closed at once: a close with unread data makes the kernel
        reset the connection, and the client could lose the answer. The connection is closed when the client
        closes it, or after the keep-alive timeout."""
        self.refused = True
        self.transport.write(error_response(b"431 Request Header Fields Too Large", too_large()))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(self.timeout_keep_alive, self.transport.close)
        else:  # pragma: no cover - TCP transports can always half-close
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """A request the HTTP parser rejects (e.g. a non-numeric ``Content-Length``) never reaches the app;
        answer it with the Stytch error body too, not uvicorn's plain-text one."""
        self.transport.write(error_response(b"400 Bad Request", errors.BadRequest()))
        self.transport.close()
