"""The response transport of ``totpflow serve`` (``protocol.CoalescingTransport``): what is written in one
turn of the event loop leaves in one write of the transport below, in order; a close or a half-close sends
what is pending first; an abort drops it. A real event loop and a real connected socket pair; the transport
below is the loop's own, seen through a counting pass-through."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from totpflow.server.http.protocol import CoalescingTransport


class Counting:
    """Passes every call on to the loop's transport, recording the writes."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


async def connected() -> tuple[Counting, CoalescingTransport, socket.socket]:
    loop = asyncio.get_running_loop()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, ours)
    counting = Counting(transport)  # type: ignore[arg-type]
    theirs.settimeout(5)
    return counting, CoalescingTransport(counting, loop), theirs  # type: ignore[arg-type]


def received(peer: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = peer.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


async def next_turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


@pytest.mark.parametrize(
    "parts",
    [
        [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n", b"{}"],
        [b"a", b"b", b"c"],
        [b"one write"],
    ],
)
def test_writes_of_one_turn_leave_together(parts: list[bytes]) -> None:
    async def scenario() -> None:
        counting, coalescing, peer = await connected()
        for part in parts:
            coalescing.write(part)
        assert counting.writes == []  # nothing leaves before the turn ends
        assert coalescing.get_write_buffer_size() == sum(map(len, parts))
        await next_turn()
        assert counting.writes == [b"".join(parts)]
        assert received(peer, len(b"".join(parts))) == b"".join(parts)
        coalescing.close()
        peer.close()

    asyncio.run(scenario())


def test_writes_of_later_turns_leave_separately_and_empty_writes_are_dropped() -> None:
    async def scenario() -> None:
        counting, coalescing, peer = await connected()
        coalescing.write(b"")
        coalescing.write(b"first")
        await next_turn()
        coalescing.write(b"second")
        await next_turn()
        assert counting.writes == [b"first", b"second"]
        assert received(peer, 11) == b"firstsecond"
        coalescing.close()
        peer.close()

    asyncio.run(scenario())


def test_close_and_half_close_send_what_is_pending_first() -> None:
    async def scenario() -> None:
        counting, coalescing, peer = await connected()
        coalescing.write(b"head ")
        coalescing.write(b"body")
        coalescing.write_eof()
        assert counting.writes == [b"head body"]
        assert received(peer, 100) == b"head body"  # then end of stream
        coalescing.close()
        await next_turn()
        assert counting.writes == [b"head body"]  # the flush scheduled earlier finds nothing left

        counting, coalescing, peer2 = await connected()
        coalescing.write(b"last words")
        coalescing.close()
        assert counting.writes == [b"last words"]
        await next_turn()  # the loop closes the socket in a later turn
        assert received(peer2, 100) == b"last words"
        peer.close()
        peer2.close()

    asyncio.run(scenario())


def test_a_write_after_a_half_close_is_refused_to_its_caller() -> None:
    """As the transport below refuses it, in the writer's own call, not later in the loop's log."""

    async def scenario() -> None:
        counting, coalescing, peer = await connected()
        coalescing.write_eof()
        with pytest.raises(Exception) as below:  # whatever the transport below raises
            counting.transport.write(b"late")
        with pytest.raises(type(below.value)):
            coalescing.write(b"late")
        await next_turn()
        assert counting.writes == [b"late"]  # handed straight down, and refused there
        coalescing.close()
        peer.close()

    asyncio.run(scenario())


def test_abort_drops_what_is_pending() -> None:
    async def scenario() -> None:
        counting, coalescing, peer = await connected()
        coalescing.write(b"never sent")
        coalescing.abort()
        await next_turn()
        assert counting.writes == []
        assert coalescing.is_closing()
        await next_turn()
        assert peer.recv(100) == b""
        peer.close()

    asyncio.run(scenario())
