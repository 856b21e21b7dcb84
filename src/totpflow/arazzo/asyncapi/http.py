"""HTTP adapter (no extra: httpx is a dependency of the runner). Sending makes one HTTP request to the
server's URL joined with the channel address — ``POST`` unless the operation's ``http`` binding names another
method — with the headers and payload of the message; a status of 400 or more is a failure. HTTP has no
way for a server to push a message to the runner, so receiving is refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from totpflow.arazzo.asyncapi.adapter import Credentials, Endpoint, Receiver, binding
from totpflow.arazzo.errors import BrokerError


class HttpAdapter:
    carries_headers = True

    def __init__(self, protocol: str = "http") -> None:
        self.protocol = protocol
        self._base = ""
        self._client: httpx.AsyncClient | None = None

    async def connect(self, endpoint: Endpoint, credentials: Credentials | None = None) -> None:
        port = f":{endpoint.port}" if endpoint.port else ""
        self._base = f"{self.protocol}://{endpoint.host}{port}{endpoint.pathname.rstrip('/')}"
        auth = None
        if credentials is not None and credentials.username is not None:
            auth = httpx.BasicAuth(credentials.username, credentials.password or "")
        self._client = httpx.AsyncClient(auth=auth, timeout=30)

    async def subscribe(self, address: str, bindings: Mapping[str, Any] | None = None) -> Receiver:
        raise BrokerError(self.protocol, f"cannot receive on {address!r}: HTTP has no server push")

    async def publish(
        self,
        address: str,
        headers: Mapping[str, str],
        payload: bytes,
        *,
        content_type: str | None = None,
        bindings: Mapping[str, Any] | None = None,
    ) -> None:
        if self._client is None:
            raise BrokerError(self.protocol, "not connected")
        fields = dict(headers)
        if content_type:
            fields.setdefault("content-type", content_type)
        method = str(binding(bindings, "http").get("method", "POST")).upper()
        url = f"{self._base}/{address.lstrip('/')}"
        try:
            response = await self._client.request(method, url, headers=fields, content=payload)
        except httpx.HTTPError as exc:
            raise BrokerError(self.protocol, f"cannot send to {url}: {exc or type(exc).__name__}") from None
        if response.status_code >= 400:
            raise BrokerError(self.protocol, f"{method} {url} answered {response.status_code}")

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
