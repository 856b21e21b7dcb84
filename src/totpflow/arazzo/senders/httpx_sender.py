"""``HttpxSender``: the engine's ``Sender`` over an ``httpx.Client``.

The request's timeout bounds the whole exchange when the client is the runner's own
(``senders.transport.new_client``): every connect, read and write ends by one deadline
(``transport.deadline``), so a server that sends its response a few bytes at a time, each in time, fails the
request at the timeout. An injected client applies httpx's timeout to each operation; its body is read here
chunk by chunk against the whole timeout too, so such a body fails the request once the timeout has passed
and more is to come: at most one more read's wait later, within twice the timeout. A body that is whole by
then is returned (the engine judges a late response itself).
"""

from __future__ import annotations

import time

import httpx

from totpflow.arazzo.senders.transport import deadline
from totpflow.arazzo.senders.wire import MAX_RESPONSE_BYTES, HttpFailure, Outgoing, Reply, too_large


class HttpxSender:
    """Sends through ``client``; closes it on ``close`` only when ``own`` (a client the caller injected stays
    the caller's). ``max_body``: the longest response body it reads, once decoded
    (``wire.MAX_RESPONSE_BYTES``)."""

    def __init__(
        self, client: httpx.Client, *, own: bool = False, max_body: int = MAX_RESPONSE_BYTES
    ) -> None:
        self.client = client
        self._own = own
        self.max_body = max_body
        self._timeouts: dict[float, dict[str, float | None]] = {}  # seconds → httpx's per-request form

    def build(
        self, method: str, url: str, headers: list[tuple[str, str]], content: bytes | None, timeout: float
    ) -> Outgoing:
        if not all(value.isascii() for _, value in headers):
            # as the plain sender writes them: Latin-1 (httpx would encode text as ASCII and fail below the
            # engine); a value outside Latin-1 cannot be sent by either
            try:
                headers = [(name, value.encode("latin-1")) for name, value in headers]  # type: ignore[misc]
            except UnicodeEncodeError as exc:
                raise HttpFailure(f"UnicodeEncodeError: {exc}") from None
        try:
            timeouts = self._timeouts.get(timeout)
            if timeouts is None:
                timeouts = self._timeouts[timeout] = httpx.Timeout(timeout).as_dict()
            # the timeout as httpx stores it on a request, built once rather than per request
            request = self.client.build_request(
                method, url, headers=headers, content=content, extensions={"timeout": timeouts}
            )
        except httpx.InvalidURL as exc:
            raise HttpFailure(f"InvalidURL: {exc}") from None
        return Outgoing(request.method, None, None, content, native=request, sender=self)

    def send(self, request: Outgoing) -> Reply:
        limit = (request.native.extensions.get("timeout") or {}).get("read")
        ends = None if limit is None else time.monotonic() + limit
        try:
            with deadline(limit):
                response = self.client.send(request.native, stream=True)
                try:
                    chunks = []
                    received = 0
                    for chunk in response.iter_bytes():
                        chunks.append(chunk)
                        received += len(chunk)
                        if received > self.max_body:
                            raise too_large(self.max_body)
                        if ends is not None and time.monotonic() > ends and not _whole(response, received):
                            raise httpx.ReadTimeout("the response took longer than the timeout")
                finally:
                    response.close()
        except httpx.TimeoutException:
            raise HttpFailure("request timed out", timeout=True) from None
        except httpx.HTTPError as exc:  # connection refused, DNS, TLS, protocol errors
            raise HttpFailure(f"{type(exc).__name__}: {exc}") from None
        # the fields read once, decoded as httpx decodes them: its own header lookups are costly
        encoding = response.headers.encoding
        return Reply(
            response.status_code,
            tuple((name.decode(encoding), value.decode(encoding)) for name, value in response.headers.raw),
            b"".join(chunks),
            response.http_version,
        )

    def close(self) -> None:
        if self._own:
            self.client.close()


def _whole(response: httpx.Response, received: int) -> bool:
    """Whether the body read so far (``received`` bytes once decoded) is all its ``Content-Length``
    announced; unknown, so False, for a chunked body."""
    length = response.headers.get("content-length")
    if length is None or not length.isdigit():
        return False
    if response.num_bytes_downloaded >= int(length):
        return True
    return "content-encoding" not in response.headers and received >= int(length)  # a body given whole
