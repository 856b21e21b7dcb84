"""The HTTP/1.1 protocol uvicorn runs the app with: httptools' C parser when installed (h11 otherwise), and
``TCP_NODELAY`` on every accepted connection, and the Stytch error body for requests its parser rejects.

asyncio turns Nagle's algorithm off only for sockets created with ``proto=IPPROTO_TCP``; the listening socket
uvicorn shares between ``--workers`` processes is created with ``proto=0``, so without this every response
written in two parts (headers, then body) waited for the client's delayed ACK: about 40 ms per request.

Pass ``PROTOCOL`` (an import string, so worker processes can import it) as uvicorn's ``http`` setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

PROTOCOL = "totpflow.server.http.protocol:NoDelayProtocol"

_Base: Any
try:
    import httptools  # noqa: F401  (the C parser HttpToolsProtocol needs)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base
except ImportError:  # pragma: no cover - httptools is a dependency; h11 ships with uvicorn
    from uvicorn.protocols.http.h11_impl import H11Protocol as _Base


class NoDelayProtocol(_Base):  # type: ignore[misc]
    """uvicorn's HTTP protocol with Nagle's algorithm off."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)

    def send_400_response(self, msg: str) -> None:
        """A request the HTTP parser rejects (e.g. a non-numeric ``Content-Length``) never reaches the app;
        answer it with the Stytch error body too, not uvicorn's plain-text one."""
        import msgspec

        from totpflow.server import errors
        from totpflow.server.http.errors import error_body

        body = msgspec.json.encode(error_body(errors.BadRequest()))
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
        )
        self.transport.close()
