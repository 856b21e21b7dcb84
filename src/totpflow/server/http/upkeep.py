"""Threads for a worker's own upkeep — readiness, metrics, the key-rotation check — apart from the bounded
pool of the service calls (``app.SERVICE_THREADS``): a worker whose service threads all wait on the database
(a writer of another process holding SQLite's lock for up to the busy timeout, say) still answers ``/readyz``
within its timeout, serves ``/metrics`` and rotates its keys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, TypeVar
from weakref import WeakKeyDictionary

import anyio.to_thread
from anyio import CapacityLimiter

T = TypeVar("T")

UPKEEP_THREADS: Final = 2
_limiters: WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = WeakKeyDictionary()


async def run_upkeep(func: Callable[[], T]) -> T:
    """``func()`` in a thread of the upkeep pool of the running event loop."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = CapacityLimiter(UPKEEP_THREADS)
    return await anyio.to_thread.run_sync(func, limiter=limiter)
