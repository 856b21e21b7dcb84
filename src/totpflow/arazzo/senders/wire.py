"""What crosses the engine's HTTP seam: ``Outgoing`` (a request as built for the wire), ``Reply``,
``HttpFailure`` and the ``Sender`` protocol (see the package docstring)."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec


class Outgoing:
    """A request as it will be sent. ``headers`` are every field that goes out, client defaults included;
    ``native`` is the sending client's own request object, if it has one."""

    __slots__ = ("_headers", "_url", "content", "method", "native", "sender")

    def __init__(
        self,
        method: str,
        url: str | None,
        headers: tuple[tuple[str, str], ...] | None,
        content: bytes | None,
        *,
        native: Any = None,
        sender: Sender | None = None,
    ) -> None:
        self.method = method
        self._url = url
        self._headers = headers
        self.content = content
        self.native = native
        self.sender = sender

    @property
    def url(self) -> str:
        if self._url is None:  # the native request's, normalised by its client, on demand
            self._url = str(self.native.url)
        return self._url

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        if self._headers is None:  # read from the native request on demand (records are built lazily)
            self._headers = tuple(self.native.headers.multi_items())
        return self._headers


class Reply(msgspec.Struct):
    """A response with its body read."""

    status_code: int
    headers: tuple[tuple[str, str], ...]
    content: bytes
    http_version: str = "HTTP/1.1"


# The largest response body a step reads (after any content decoding): a bigger one fails the request
# rather than fill the runner's memory. Generous for an API's answer; a sender takes another (``max_body``).
MAX_RESPONSE_BYTES = 64 * 1024 * 1024


def too_large(limit: int) -> HttpFailure:
    return HttpFailure(f"the response body is larger than {limit} bytes, the most a step reads")


class HttpFailure(Exception):
    """No response: a timeout (``timeout`` True), or a connection, TLS or protocol error."""

    def __init__(self, message: str, *, timeout: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.timeout = timeout


class Sender(Protocol):
    def build(
        self, method: str, url: str, headers: list[tuple[str, str]], content: bytes | None, timeout: float
    ) -> Outgoing: ...

    def send(self, request: Outgoing) -> Reply: ...

    def close(self) -> None: ...
