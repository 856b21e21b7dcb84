"""The NATS adapter's ``subscribe`` and ``publish`` return only after the server has processed the SUB or PUB.
A real server processes a connection's commands in order but does not show when, so this runs against a
loopback stand-in that records each command as it processes it and, after each PONG, pauses before it reads
on: a client that takes a PONG for an acknowledgement of a command written after its PING returns too early.
The round trips against the real broker are in test_asyncapi_brokers.py."""

from __future__ import annotations

import asyncio

from totpflow.arazzo.asyncapi import Endpoint, adapter_for

INFO = b'INFO {"server_id":"stand-in","version":"2.10.0","proto":1,"headers":true,"max_payload":1048576}\r\n'
PAUSE_AFTER_PONG = 0.05  # seconds: long enough for a client that does not wait for its command to return


class StandIn:
    def __init__(self) -> None:
        self.processed: list[str] = []
        self.closed = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(INFO)
        await writer.drain()
        try:
            while line := await reader.readline():
                verb, *arguments = line.split()
                if verb in (b"PUB", b"HPUB"):  # the last argument is the size of headers and payload
                    await reader.readexactly(int(arguments[-1]) + 2)
                self.processed.append(verb.decode())
                if verb == b"PING":
                    writer.write(b"PONG\r\n")
                    await writer.drain()
                    await asyncio.sleep(PAUSE_AFTER_PONG)
        finally:
            writer.close()
            self.closed.set()


def test_subscribe_and_publish_return_after_the_server_processed_them() -> None:
    stand_in = StandIn()

    async def main() -> tuple[list[str], list[str]]:
        server = await asyncio.start_server(stand_in.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        adapter = adapter_for("nats")
        try:
            await adapter.connect(Endpoint("nats", "127.0.0.1", port))
            receiver = await adapter.subscribe("orders.placed")
            after_subscribe = list(stand_in.processed)
            await adapter.publish("orders.placed", {"id": "1"}, b"{}")
            after_publish = list(stand_in.processed)
            await receiver.close()
        finally:
            await adapter.close()
            await asyncio.wait_for(stand_in.closed.wait(), 5)
            server.close()
        return after_subscribe, after_publish

    after_subscribe, after_publish = asyncio.run(main())
    assert "SUB" in after_subscribe
    assert "HPUB" in after_publish
