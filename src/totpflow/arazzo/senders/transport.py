"""The HTTP client the runner sends with when the caller injects none.

``httpx.Client()`` builds a TLS context and loads the CA bundle up front (~30 ms), which a ``totpflow run``
against ``http://127.0.0.1`` never uses. ``LazyTransport`` builds the verifying TLS transport on the first
``https`` request instead; plain ``http`` requests go through a transport without TLS set-up. Certificate
verification of ``https`` requests is unchanged.
"""

from __future__ import annotations

from typing import Any

import httpx


class LazyTransport(httpx.BaseTransport):
    def __init__(self, **options: Any) -> None:
        self._options = options
        self._plain: httpx.HTTPTransport | None = None
        self._tls: httpx.HTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            if self._tls is None:
                self._tls = httpx.HTTPTransport(**self._options)
            return self._tls.handle_request(request)
        if self._plain is None:
            # No TLS on this transport, so nothing to verify: skip loading the CA bundle.
            self._plain = httpx.HTTPTransport(**{**self._options, "verify": False})
        return self._plain.handle_request(request)

    def close(self) -> None:
        for transport in (self._plain, self._tls):
            if transport is not None:
                transport.close()


def new_client(**options: Any) -> httpx.Client:
    """An ``httpx.Client`` over a :class:`LazyTransport`; ``options`` are the Client's (timeout, …)."""
    return httpx.Client(transport=LazyTransport(), **options)
