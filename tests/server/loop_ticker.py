"""Run a coroutine on a fresh event loop beside a ticker, to show the loop was never blocked meanwhile."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
TICK = 0.01  # seconds between ticks


def with_ticker(work: Callable[[], Awaitable[T]]) -> tuple[T, int, float, int]:
    """``work()`` on a fresh loop beside a coroutine ticking every ``TICK``: its result, the ticks, the
    seconds it took, and the loop's thread."""

    async def main() -> tuple[T, int, float, int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                await asyncio.sleep(TICK)
                ticks += 1

        ticking = asyncio.create_task(ticker())
        began = time.monotonic()
        try:
            result = await work()
        finally:
            done.set()
            await ticking
        return result, ticks, time.monotonic() - began, threading.get_ident()

    return asyncio.run(main())


def kept_running(ticks: int, seconds: float) -> bool:
    """Whether a ticker that counted ``ticks`` over ``seconds`` ran most of the time (a blocked loop ticks
    not at all while it is blocked)."""
    return ticks >= seconds / TICK / 2
