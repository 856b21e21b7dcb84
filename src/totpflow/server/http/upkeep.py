"""Threads for a worker's own upkeep — readiness, metrics, the key-rotation check — apart from the bounded
pool of the service calls (``dispatch.SERVICE_THREADS``): a worker whose service threads all wait on the
database (a writer of another process holding SQLite's lock for up to the busy timeout, say) still answers
``/readyz`` within its timeout, serves ``/metrics`` and rotates its keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

from totpflow.server.http.threads import LoopThreads

T = TypeVar("T")

UPKEEP_THREADS: Final = 2
upkeep_threads: Final = LoopThreads(UPKEEP_THREADS, "totpflow-upkeep")


async def run_upkeep(func: Callable[[], T]) -> T:
    """``func()`` in a thread of the upkeep pool of the running event loop."""
    return await upkeep_threads.run(func)
