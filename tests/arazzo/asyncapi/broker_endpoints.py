"""Brokers for the AsyncAPI adapter tests: the machine's Mosquitto, RabbitMQ and NATS (never started or
stopped here; a test skips, naming the broker, when one is not reachable), and a WebSocket hub each test
starts on loopback. The hub relays every frame a client sends on a path to the other clients on that
path."""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from totpflow.arazzo.asyncapi import Adapter, Credentials, Endpoint, adapter_for

BROKERS: dict[str, tuple[str, int, str]] = {
    "mqtt": ("127.0.0.1", 1883, "Mosquitto"),
    "amqp": ("127.0.0.1", 5672, "RabbitMQ"),
    "nats": ("127.0.0.1", 4222, "NATS"),
}
CREDENTIALS = {"amqp": Credentials("guest", "guest")}


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_broker(protocol: str) -> None:
    if protocol in BROKERS:
        host, port, name = BROKERS[protocol]
        if not reachable(host, port):
            pytest.skip(f"{name} is not reachable on {host}:{port}")


@asynccontextmanager
async def endpoint_for(protocol: str) -> AsyncIterator[Endpoint]:
    """The endpoint of the broker for ``protocol``; for ``ws``, a relay hub served while the block runs."""
    if protocol != "ws":
        host, port, _ = BROKERS[protocol]
        yield Endpoint(protocol, host, port)
        return
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.http11 import Request
    from websockets.protocol import State

    hub: dict[str, set[ServerConnection]] = defaultdict(set)

    def register(connection: ServerConnection, request: Request) -> Any:
        # before the handshake response: a client whose connect() returned is already a listener
        hub[request.path].add(connection)
        return None

    async def relay(connection: ServerConnection) -> None:
        path = connection.request.path if connection.request is not None else ""
        try:
            async for frame in connection:
                for peer in list(hub[path]):
                    if peer is not connection and peer.state is State.OPEN:
                        await peer.send(frame)
        finally:
            hub[path].discard(connection)

    async with serve(relay, "127.0.0.1", 0, process_request=register, max_size=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield Endpoint("ws", "127.0.0.1", port, "/hub")


def run_adapters(protocol: str, scenario: Callable[[Adapter, Adapter], Awaitable[Any]]) -> Any:
    """Connect two adapters (the workflow's and its peer's) for ``protocol`` and run ``scenario``."""
    require_broker(protocol)

    async def main() -> Any:
        async with endpoint_for(protocol) as endpoint:
            runner, peer = adapter_for(protocol), adapter_for(protocol)
            await runner.connect(endpoint, CREDENTIALS.get(protocol))
            await peer.connect(endpoint, CREDENTIALS.get(protocol))
            try:
                return await scenario(runner, peer)
            finally:
                await runner.close()
                await peer.close()

    return asyncio.run(main())
