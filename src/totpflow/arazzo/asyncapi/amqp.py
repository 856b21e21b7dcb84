"""AMQP 0-9-1 adapter (``totpflow[amqp]``: aio-pika, on aiormq).

Application headers travel in the message ``headers`` table, the content type as the ``content_type``
property. The channel's ``amqp`` binding decides the routing (AsyncAPI AMQP binding 0.3.0):

- ``is: routingKey`` (the default): send publishes to the binding's exchange (declared as described there),
  or to ``amq.topic`` when the binding names none, with the channel address as routing key; receive binds a
  fresh exclusive, auto-delete queue to that exchange with the address as binding key.
- ``is: queue``: send publishes to the named queue through the default exchange; receive consumes that queue.

Publisher confirms are on, so ``publish`` returns once the broker acknowledged the message. ``subscribe``
returns once the queue is bound and the consumer registered (``basic.consume-ok``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import aio_pika
import aio_pika.abc
import aio_pika.exceptions
import aiormq.exceptions
from aio_pika.connection import make_url

from totpflow.arazzo.asyncapi.adapter import Credentials, Endpoint, QueueReceiver, Receiver, binding
from totpflow.arazzo.asyncapi.message import Message, as_text
from totpflow.arazzo.errors import BrokerError

# aiormq logs a connection the broker closed with its traceback, which Python prints on stderr when the
# application configured no logging; the run reports the failure itself (a BrokerError), once. An application
# that configures logging still receives these records.
for _name in ("aiormq", "aio_pika"):
    logging.getLogger(_name).addHandler(logging.NullHandler())

DEFAULT_EXCHANGE = "amq.topic"
ABANDON_SECONDS = 2.0  # bound on closing a connection whose connect was abandoned
_FAILURES = (aio_pika.exceptions.AMQPException, aiormq.exceptions.AMQPError, OSError, ConnectionError)


class AmqpAdapter:
    carries_headers = True

    def __init__(self, protocol: str = "amqp") -> None:
        self.protocol = protocol
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None

    async def connect(self, endpoint: Endpoint, credentials: Credentials | None = None) -> None:
        creds = credentials or Credentials()
        secure = self.protocol == "amqps"
        # aio-pika's connect_robust, with the connection in hand: a connect that is cancelled (a step's
        # timeout) or fails is closed here, or its reconnection task would go on retrying, and holding the
        # event loop open, after the run.
        url = make_url(
            host=endpoint.host,
            port=endpoint.port or (5671 if secure else 5672),
            login=creds.username or "guest",
            password=creds.password or "guest",
            virtualhost=endpoint.pathname.lstrip("/") or "/",
            ssl=secure,
            reconnect_interval=1,
            fail_fast=True,
        )
        connection = aio_pika.RobustConnection(url, reconnect_interval=1, fail_fast=True)
        try:
            await connection.connect(timeout=10)
            channel = await connection.channel(publisher_confirms=True)
        except BaseException as exc:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(connection.close(), ABANDON_SECONDS)
            if isinstance(exc, _FAILURES):
                reason = str(exc) or type(exc).__name__
                raise BrokerError(self.protocol, f"cannot connect to {endpoint.host}: {reason}") from None
            raise
        self._connection, self._channel = connection, channel

    def _require(self) -> tuple[aio_pika.abc.AbstractRobustConnection, aio_pika.abc.AbstractChannel]:
        if self._connection is None or self._channel is None:
            raise BrokerError(self.protocol, "not connected")
        return self._connection, self._channel

    async def _exchange(
        self, channel: aio_pika.abc.AbstractChannel, options: Mapping[str, Any]
    ) -> aio_pika.abc.AbstractExchange:
        described = options.get("exchange")
        if not isinstance(described, Mapping) or not described.get("name"):
            return await channel.get_exchange(DEFAULT_EXCHANGE, ensure=True)
        return await channel.declare_exchange(
            str(described["name"]),
            type=str(described.get("type", "topic")),
            durable=bool(described.get("durable", True)),
            auto_delete=bool(described.get("autoDelete", False)),
        )

    async def subscribe(self, address: str, bindings: Mapping[str, Any] | None = None) -> Receiver:
        connection, _ = self._require()
        options = binding(bindings, "amqp")
        receiver = QueueReceiver(self.protocol, address)
        try:
            channel = await connection.channel()
            receiver.on_close(channel.close)
            if options.get("is") == "queue":
                queue_options = _queue_options(options)
                queue = await channel.declare_queue(
                    str(queue_options.get("name") or address),
                    durable=bool(queue_options.get("durable", False)),
                    exclusive=bool(queue_options.get("exclusive", False)),
                    auto_delete=bool(queue_options.get("autoDelete", False)),
                )
            elif _through_the_default_exchange(options):  # it routes by queue name: a queue of that name
                queue = await channel.declare_queue(address, exclusive=True, auto_delete=True)
            else:
                queue = await channel.declare_queue(exclusive=True, auto_delete=True)
                await queue.bind(await self._exchange(channel, options), routing_key=address)

            async def deliver(incoming: aio_pika.abc.AbstractIncomingMessage) -> None:
                receiver.put(_message(incoming))

            await queue.consume(deliver, no_ack=True)
        except _FAILURES as exc:
            await receiver.close()
            raise BrokerError(self.protocol, f"cannot subscribe to {address!r}: {exc}") from None
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
        _, channel = self._require()
        options = binding(bindings, "amqp")
        message = aio_pika.Message(body=payload, headers=dict(headers), content_type=content_type)
        try:
            if options.get("is") == "queue":
                queue_options = _queue_options(options)
                await channel.default_exchange.publish(
                    message, routing_key=str(queue_options.get("name") or address)
                )
            elif _through_the_default_exchange(options):
                await channel.default_exchange.publish(message, routing_key=address)
            else:
                exchange = await self._exchange(channel, options)
                await exchange.publish(message, routing_key=address)
        except _FAILURES as exc:
            raise BrokerError(self.protocol, f"cannot publish to {address!r}: {exc}") from None

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection, self._channel = self._connection, None, None
            await connection.close()


def _through_the_default_exchange(options: Mapping[str, Any]) -> bool:
    """An exchange binding of ``type: default``: AMQP's default exchange, which delivers a message to the
    queue named by its routing key (RabbitMQ refuses to declare an exchange of that type)."""
    described = options.get("exchange")
    return isinstance(described, Mapping) and described.get("type") == "default"


def _queue_options(options: Mapping[str, Any]) -> Mapping[str, Any]:
    found = options.get("queue")
    return found if isinstance(found, Mapping) else {}


def _header_text(value: Any) -> str:
    """A header value as text, JSON-spelt as the other protocols' are (``true``, not ``True``); a value JSON
    has no form for (a timestamp, a decimal) as Python writes it."""
    if value is None or isinstance(value, str | bytes | bool | int | float | list | dict):
        try:
            return as_text(value)
        except (TypeError, ValueError):  # a nested value JSON has no form for
            pass
    return str(value)


def _message(incoming: aio_pika.abc.AbstractIncomingMessage) -> Message:
    headers = {str(k): _header_text(v) for k, v in (incoming.headers or {}).items()}
    return Message(
        address=incoming.routing_key or "",
        headers=headers,
        payload=incoming.body,
        content_type=incoming.content_type,
    )
