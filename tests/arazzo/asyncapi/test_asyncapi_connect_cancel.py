"""A broker connection cancelled while it is being made (a step ``timeout`` expiring during the connect)
leaves nothing behind: no task still connecting, no connection that opens later with nobody to close it.
The broker is a loopback listener that accepts and never answers, so every connect hangs until it is
cancelled; then the listener's end of each connection sees the client close it."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import pytest

from totpflow.arazzo.asyncapi import Credentials, Endpoint
from totpflow.arazzo.asyncapi.connections import Connections


class SilentBroker:
    """Accepts TCP connections on loopback and never sends a byte; records when each is closed by the
    client."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.closed = threading.Semaphore(0)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted.append(client)
            threading.Thread(target=self._watch, args=(client,), daemon=True).start()

    def _watch(self, client: socket.socket) -> None:
        with suppress(OSError):
            while client.recv(4096):
                pass
        self.closed.release()

    def close(self) -> None:
        self.listener.close()
        for client in self.accepted:
            with suppress(OSError):
                client.close()


@contextmanager
def silent_broker() -> Iterator[SilentBroker]:
    broker = SilentBroker()
    try:
        yield broker
    finally:
        broker.close()


@pytest.mark.parametrize("protocol", ["nats", "amqp", "mqtt"])
def test_a_cancelled_connect_leaves_no_task_and_no_connection(protocol: str) -> None:
    with silent_broker() as broker:

        async def scenario() -> set[asyncio.Task[object]]:
            connections = Connections()
            endpoint = Endpoint(protocol, "127.0.0.1", broker.port)
            credentials = Credentials("guest", "guest") if protocol == "amqp" else None
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(connections.adapter(endpoint, credentials), 0.5)
            await connections.close()
            for _ in range(20):  # what the cancellation started (closing sockets) finishes in a few turns
                await asyncio.sleep(0.01)
            return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

        left = asyncio.run(scenario())
        assert left == set()
        assert broker.accepted, "the client never reached the listener"
        assert broker.closed.acquire(timeout=5), "the client's connection was left open"
