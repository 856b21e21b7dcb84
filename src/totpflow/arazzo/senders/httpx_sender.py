"""``HttpxSender``: the engine's ``Sender`` over an ``httpx.Client``."""

from __future__ import annotations

import httpx

from totpflow.arazzo.senders.wire import HttpFailure, Outgoing, Reply


class HttpxSender:
    """Sends through ``client``; closes it on ``close`` only when ``own`` (a client the caller injected stays
    the caller's)."""

    def __init__(self, client: httpx.Client, *, own: bool = False) -> None:
        self.client = client
        self._own = own
        self._timeouts: dict[float, dict[str, float | None]] = {}  # seconds → httpx's per-request form

    def build(
        self, method: str, url: str, headers: list[tuple[str, str]], content: bytes | None, timeout: float
    ) -> Outgoing:
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
        try:
            response = self.client.send(request.native)  # the body is read (not streamed)
        except httpx.TimeoutException:
            raise HttpFailure("request timed out", timeout=True) from None
        except httpx.HTTPError as exc:  # connection refused, DNS, TLS, protocol errors
            raise HttpFailure(f"{type(exc).__name__}: {exc}") from None
        # the fields read once, decoded as httpx decodes them: its own header lookups are costly
        encoding = response.headers.encoding
        return Reply(
            response.status_code,
            tuple((name.decode(encoding), value.decode(encoding)) for name, value in response.headers.raw),
            response.content,
            response.http_version,
        )

    def close(self) -> None:
        if self._own:
            self.client.close()
