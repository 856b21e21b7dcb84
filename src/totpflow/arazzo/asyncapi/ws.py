"""WebSocket adapter (``totpflow[ws]``: websockets). A channel address is a path under the server's URL
(``ws://host:port/pathname/address``); each address gets its own connection. A frame has no per-message
headers, so publishing with headers is refused (handshake headers belong to the ``ws`` channel binding), and
no content type: text frames are read as UTF-8 payloads. ``subscribe`` returns once the opening handshake
completed, when the server has the connection. A message may be as large as an HTTP response body
(``senders.wire.MAX_RESPONSE_BYTES``); a larger one ends the subscription, naming the limit."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import websockets.asyncio.client
import websockets.exceptions

from totpflow.arazzo.asyncapi.adapter import Credentials, Endpoint, QueueReceiver, Receiver, cancel, pump
from totpflow.arazzo.asyncapi.message import Message
from totpflow.arazzo.errors import BrokerError
from totpflow.arazzo.senders.wire import MAX_RESPONSE_BYTES

_FAILURES = (websockets.exceptions.WebSocketException, OSError, TimeoutError)


class WebSocketAdapter:
    carries_headers = False

    def __init__(self, protocol: str = "ws") -> None:
        self.protocol = protocol
        self._base = ""
        self._auth: tuple[str, str] | None = None
        self._senders: dict[str, websockets.asyncio.client.ClientConnection] = {}

    async def connect(self, endpoint: Endpoint, credentials: Credentials | None = None) -> None:
        port = f":{endpoint.port}" if endpoint.port else ""
        self._base = f"{self.protocol}://{endpoint.host}{port}{endpoint.pathname.rstrip('/')}"
        if credentials is not None and credentials.username is not None:
            self._auth = (credentials.username, credentials.password or "")

    async def _open(self, address: str) -> websockets.asyncio.client.ClientConnection:
        if not self._base:
            raise BrokerError(self.protocol, "not connected")
        url = f"{self._base}/{address.lstrip('/')}"
        if self._auth is not None:  # userinfo in the URL becomes HTTP Basic authentication on the handshake
            scheme, rest = url.split("://", 1)
            url = f"{scheme}://{self._auth[0]}:{self._auth[1]}@{rest}"
        try:
            # a message may be as large as an HTTP response body (websockets' own default is 1 MiB)
            return await websockets.asyncio.client.connect(url, open_timeout=10, max_size=MAX_RESPONSE_BYTES)
        except _FAILURES as exc:
            raise BrokerError(
                self.protocol, f"cannot open {address!r}: {exc or type(exc).__name__}"
            ) from None

    async def subscribe(self, address: str, bindings: Mapping[str, Any] | None = None) -> Receiver:
        connection = await self._open(address)
        receiver = QueueReceiver(self.protocol, address)
        receiver.on_close(connection.close)

        async def read() -> None:
            async for frame in connection:
                data = frame.encode() if isinstance(frame, str) else bytes(frame)
                receiver.put(Message(address=address, headers={}, payload=data))

        task = asyncio.create_task(pump(receiver, read))
        receiver.on_close(lambda: cancel(task))
        return receiver

    async def publish(
        self,
        address: str,
        headers: Mapping[str, str],
        payload: bytes,
        *,
        content_type: str | None = None,
        bindings: Mapping[str, Any] | None = None,
    ) -> None:
        if headers:
            raise BrokerError(
                self.protocol, f"a WebSocket message carries no headers (given: {', '.join(sorted(headers))})"
            )
        connection = self._senders.get(address)
        if connection is None:
            connection = self._senders[address] = await self._open(address)
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            text = None
        try:
            await connection.send(text if text is not None else payload)
        except _FAILURES as exc:
            self._senders.pop(address, None)
            raise BrokerError(self.protocol, f"cannot send on {address!r}: {exc}") from None

    async def close(self) -> None:
        senders, self._senders = self._senders, {}
        for connection in senders.values():
            await connection.close()
