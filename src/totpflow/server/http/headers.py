"""Bounds on a request's head: at most :data:`MAX_HEADER_COUNT` header fields and :data:`MAX_HEAD_BYTES`
bytes, or ``431 request_header_fields_too_large`` with the Stytch error body.

uvicorn bounds neither with httptools, the parser this server runs (its one such option,
``h11_max_incomplete_event_size``, applies to h11 only), and an 8 MB header was accepted and buffered whole.
The bounds are enforced twice:

* by the protocol (``totpflow.server.http.protocol``), as the head arrives: it counts the bytes of the request
  line and header fields and answers 431 once they pass :data:`MAX_HEAD_BYTES`, so no more than that is ever
  buffered for a head;
* by :class:`HeaderLimits`, an ASGI middleware that sees the parsed fields: their number, and the bytes of
  their names and values, whatever server runs the app (e.g. one started without this protocol).

The figures follow common servers: 16 KiB is h11's and Node.js's default for a whole head, 100 fields is
Gunicorn's ``limit_request_fields``. A Stytch SDK request carries about ten short fields.
"""

from __future__ import annotations

from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from totpflow.server.http.errors import HeadersTooLarge, render

MAX_HEAD_BYTES: Final = 16 * 1024
MAX_HEADER_COUNT: Final = 100
LIMITS: Final = f"{MAX_HEADER_COUNT} fields and {MAX_HEAD_BYTES} bytes"


def too_large() -> HeadersTooLarge:
    return HeadersTooLarge(LIMITS)


def within_limits(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether parsed header fields are within both bounds."""
    if len(headers) > MAX_HEADER_COUNT:
        return False
    return sum(len(name) + len(value) for name, value in headers) <= MAX_HEAD_BYTES


class HeaderLimits:
    """ASGI middleware: a request with too many header fields, or too many bytes of them, is answered 431."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not within_limits(scope["headers"]):
            await render(too_large())(scope, receive, send)
            return
        await self.app(scope, receive, send)
