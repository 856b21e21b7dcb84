"""An in-memory broker for running AsyncAPI steps in process, the counterpart of ``httpx.MockTransport`` for
HTTP steps: every published message reaches the current subscribers of its address (none are kept for later),
and a responder registered for an address answers each message published there, as a service would."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from totpflow.arazzo.asyncapi import Credentials, Endpoint, Message
from totpflow.arazzo.asyncapi.adapter import QueueReceiver
from totpflow.arazzo.errors import BrokerError

# a responder gets the message and returns the replies to publish: (address, payload bytes)
Responder = Callable[[Message], list[tuple[str, bytes]]]


class MemoryBroker:
    def __init__(self) -> None:
        self.subscribers: dict[str, list[QueueReceiver]] = defaultdict(list)
        self.responders: dict[str, Responder] = {}
        self.published: list[Message] = []
        self.logins: list[Credentials | None] = []
        self.publish_delays: list[float] = []  # seconds each next publish takes before the broker has it
        self.refusals = (
            0  # how many next publishes the broker refuses (BrokerError), as a broker that is down
        )

    def deliver(self, message: Message) -> None:
        self.published.append(message)
        for receiver in list(self.subscribers[message.address]):
            receiver.put(message)
        responder = self.responders.get(message.address)
        if responder is not None:
            loop = asyncio.get_running_loop()
            for address, payload in responder(message):  # after the publish returned, as over a network
                loop.call_soon(self.deliver, Message(address, {}, payload, "application/json"))


class MemoryAdapter:
    """The ``Adapter`` protocol over a ``MemoryBroker``, whatever the server's protocol says."""

    carries_headers = True

    def __init__(self, broker: MemoryBroker, protocol: str) -> None:
        self.broker = broker
        self.protocol = protocol

    async def connect(self, endpoint: Endpoint, credentials: Credentials | None = None) -> None:
        self.broker.logins.append(credentials)

    async def subscribe(self, address: str, bindings: Mapping[str, Any] | None = None) -> QueueReceiver:
        receiver = QueueReceiver(self.protocol, address)
        self.broker.subscribers[address].append(receiver)

        async def unsubscribe() -> None:
            self.broker.subscribers[address].remove(receiver)

        receiver.on_close(unsubscribe)
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
        if self.broker.refusals:
            self.broker.refusals -= 1
            raise BrokerError(self.protocol, "cannot connect to memory.invalid: connection refused")
        if self.broker.publish_delays:
            await asyncio.sleep(self.broker.publish_delays.pop(0))
        self.broker.deliver(Message(address, dict(headers), payload, content_type))

    async def close(self) -> None:
        pass
