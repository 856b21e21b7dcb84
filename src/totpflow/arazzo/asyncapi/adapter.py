"""The seam between the runner and a message broker: one ``Adapter`` per protocol, looked up by the AsyncAPI
server ``protocol`` and imported only when a step needs it (each client library is an optional extra).

An adapter is connected once (``connect``), then publishes (``publish``) and subscribes (``subscribe``). A
subscription is live when ``subscribe`` returns: a message published after that point reaches the returned
``Receiver``, which buffers it until it is read. That is what lets a receive step subscribe before the step
that triggers the message runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import msgspec

from totpflow.arazzo.asyncapi.message import Message
from totpflow.arazzo.errors import BrokerError


class Endpoint(msgspec.Struct, frozen=True):
    """Where a broker listens: ``protocol`` as AsyncAPI names it (``mqtt``, ``amqp``, ``nats``, ``ws``, …),
    ``host`` and ``port``, and ``pathname`` (the WebSocket / HTTP base path; the AMQP virtual host)."""

    protocol: str
    host: str
    port: int | None = None
    pathname: str = ""


class Credentials(msgspec.Struct, frozen=True):
    """A broker login: ``username`` and ``password``, or a ``token`` (NATS token authentication)."""

    username: str | None = None
    password: str | None = None
    token: str | None = None

    def __repr__(self) -> str:  # never show a secret, even in a traceback
        hidden = "'********'"
        return (
            f"Credentials(username={self.username!r}, password={hidden if self.password else None}, "
            f"token={hidden if self.token else None})"
        )


class Receiver(Protocol):
    """A live subscription. ``get`` waits for the next message (cancel it, e.g. with ``asyncio.timeout``, to
    stop waiting; a cancelled ``get`` loses no message)."""

    async def get(self) -> Message: ...

    async def close(self) -> None: ...


class Adapter(Protocol):
    protocol: str
    carries_headers: bool  # False: the protocol has no per-message application headers

    async def connect(self, endpoint: Endpoint, credentials: Credentials | None = None) -> None: ...

    async def subscribe(self, address: str, bindings: Mapping[str, Any] | None = None) -> Receiver: ...

    async def publish(
        self,
        address: str,
        headers: Mapping[str, str],
        payload: bytes,
        *,
        content_type: str | None = None,
        bindings: Mapping[str, Any] | None = None,
    ) -> None: ...

    async def close(self) -> None: ...


# AsyncAPI server `protocol` → (module, class, the pip extra that brings its client)
_ADAPTERS: dict[str, tuple[str, str, str]] = {
    "mqtt": ("totpflow.arazzo.asyncapi.mqtt", "MqttAdapter", "mqtt"),
    "secure-mqtt": ("totpflow.arazzo.asyncapi.mqtt", "MqttAdapter", "mqtt"),
    "mqtts": ("totpflow.arazzo.asyncapi.mqtt", "MqttAdapter", "mqtt"),
    "amqp": ("totpflow.arazzo.asyncapi.amqp", "AmqpAdapter", "amqp"),
    "amqps": ("totpflow.arazzo.asyncapi.amqp", "AmqpAdapter", "amqp"),
    "nats": ("totpflow.arazzo.asyncapi.nats", "NatsAdapter", "nats"),
    "ws": ("totpflow.arazzo.asyncapi.ws", "WebSocketAdapter", "ws"),
    "wss": ("totpflow.arazzo.asyncapi.ws", "WebSocketAdapter", "ws"),
    "http": ("totpflow.arazzo.asyncapi.http", "HttpAdapter", ""),
    "https": ("totpflow.arazzo.asyncapi.http", "HttpAdapter", ""),
}


def supported_protocols() -> tuple[str, ...]:
    return tuple(_ADAPTERS)


def adapter_class(protocol: str) -> Any:
    """The adapter class for an AsyncAPI server ``protocol``, its client library imported (a few hundred
    milliseconds for some: callers that bound a connection by a step's timeout import it first). BrokerError
    when the protocol is not supported (Kafka among them) or its client extra is not installed."""
    key = protocol.lower()
    if key not in _ADAPTERS:
        raise BrokerError(protocol, f"protocol not supported (supported: {', '.join(_ADAPTERS)})")
    module_name, class_name, extra = _ADAPTERS[key]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f"; install it with: pip install 'totpflow[{extra}]'" if extra else ""
        raise BrokerError(protocol, f"the client library is not installed ({exc.name}){hint}") from None
    return getattr(module, class_name)


def adapter_for(protocol: str) -> Adapter:
    """A fresh, unconnected adapter for an AsyncAPI server ``protocol`` (see :func:`adapter_class`)."""
    adapter: Adapter = adapter_class(protocol)(protocol.lower())
    return adapter


class QueueReceiver:
    """A ``Receiver`` fed by the adapter's client (a callback or a reading task) through a queue. When the
    subscription ends (``end``: the connection closed or failed), ``get`` raises BrokerError once the messages
    that arrived before are read, instead of waiting for a message that cannot come."""

    def __init__(self, protocol: str = "", address: str = "") -> None:
        self._queue: asyncio.Queue[Message | BrokerError] = asyncio.Queue()
        self._closers: list[Callable[[], Awaitable[Any]]] = []
        self._closed = False
        self._protocol = protocol
        self._address = address

    def put(self, message: Message) -> None:
        self._queue.put_nowait(message)

    def end(self, reason: str) -> None:
        self._queue.put_nowait(
            BrokerError(self._protocol, f"subscription to {self._address!r} ended: {reason}")
        )

    def on_close(self, closer: Callable[[], Awaitable[Any]]) -> None:
        self._closers.append(closer)

    async def get(self) -> Message:
        item = await self._queue.get()
        if isinstance(item, BrokerError):
            self._queue.put_nowait(item)  # every later get fails the same way
            raise item
        return item

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for closer in reversed(self._closers):
            try:
                await closer()
            except Exception:  # a subscription that is already gone needs no cleaning up
                pass


async def pump(receiver: QueueReceiver, reader: Callable[[], Awaitable[None]]) -> None:
    """Run ``reader`` (which puts messages into ``receiver``) and end the receiver when it stops."""
    try:
        await reader()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        receiver.end(str(exc) or type(exc).__name__)
    else:
        receiver.end("the connection closed")


def binding(bindings: Mapping[str, Any] | None, protocol: str) -> Mapping[str, Any]:
    """The ``protocol`` entry of an AsyncAPI ``bindings`` object, or an empty one."""
    found = (bindings or {}).get(protocol)
    return found if isinstance(found, Mapping) else {}


async def cancel(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
