"""Receiving one correlated message: subscribe first, then let the trigger run (the step that makes the peer
send), then wait for the first message whose correlation value equals the expected one. Messages that do not
carry the correlation location, or carry another value, are skipped. Messages that arrived between the
subscription and the wait count."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from totpflow.arazzo.asyncapi.adapter import Adapter
from totpflow.arazzo.asyncapi.message import CorrelationId, Message, as_text
from totpflow.arazzo.errors import ReceiveTimeout


async def receive(
    adapter: Adapter,
    address: str,
    *,
    timeout: float,
    correlation: CorrelationId | None = None,
    expected: Any = None,
    trigger: Callable[[], Awaitable[object]] | None = None,
    bindings: Mapping[str, Any] | None = None,
) -> Message:
    """The first message on ``address`` that matches; ReceiveTimeout when none arrives within ``timeout``
    seconds of the trigger's return. Without ``correlation`` the first message matches."""
    receiver = await adapter.subscribe(address, bindings)
    try:
        if trigger is not None:
            await trigger()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    message = await receiver.get()
                    if correlation is None or correlation.matches(message, expected):
                        return message
        except TimeoutError:
            wanted = as_text(expected) if correlation is not None else None
            raise ReceiveTimeout(address, wanted, timeout) from None
    finally:
        await receiver.close()
