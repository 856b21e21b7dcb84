"""``RoutingSender``: the default sender (see the package docstring), and ``as_sender``."""

from __future__ import annotations

from typing import Any

from totpflow.arazzo.senders.plain import PlainSender
from totpflow.arazzo.senders.proxies import proxies_configured
from totpflow.arazzo.senders.wire import HttpFailure, Outgoing, Reply, Sender


def as_sender(client: Any) -> Sender:
    """``client`` as a ``Sender``: a Sender as it is, an ``httpx.Client`` wrapped in an ``HttpxSender``."""
    if not hasattr(client, "build_request"):
        return client  # type: ignore[no-any-return]
    from totpflow.arazzo.senders.httpx_sender import HttpxSender

    return HttpxSender(client)


class RoutingSender:
    """Plain ``http://`` without a proxy (or userinfo in the URL) through a ``PlainSender``; the rest through
    httpx, which sends a URL's userinfo as Basic credentials (see the package docstring). Not for concurrent
    use: one run at a time. ``httpx_options`` are passed to the ``httpx.Client`` made for the rest."""

    def __init__(self, **httpx_options: Any) -> None:
        self._plain = None if proxies_configured() else PlainSender()
        self._httpx_options = httpx_options
        self._httpx: Sender | None = None

    def _httpx_sender(self) -> Sender:
        if self._httpx is None:
            import httpx

            from totpflow.arazzo.senders.httpx_sender import HttpxSender
            from totpflow.arazzo.senders.transport import new_client

            try:
                client = new_client(**self._httpx_options)
            except httpx.ProxyError as exc:
                raise HttpFailure(str(exc)) from None
            self._httpx = HttpxSender(client, own=True)
        return self._httpx

    def build(
        self, method: str, url: str, headers: list[tuple[str, str]], content: bytes | None, timeout: float
    ) -> Outgoing:
        plain = self._plain
        if plain is not None and url[:7].lower() == "http://" and "@" not in url[7:].partition("/")[0]:
            return plain.build(method, url, headers, content, timeout)
        return self._httpx_sender().build(method, url, headers, content, timeout)

    def send(self, request: Outgoing) -> Reply:
        assert request.sender is not None
        return request.sender.send(request)

    def close(self) -> None:
        for sender in (self._plain, self._httpx):
            if sender is not None:
                sender.close()

    def __enter__(self) -> RoutingSender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
