"""Bounded thread pools, one per event loop, for the synchronous work the app hands off: the service calls
(``totpflow.server.http.dispatch``) and the worker's own upkeep (``totpflow.server.http.upkeep``).

A call runs in the caller's context (the request's id and project, for its log line). The hand-off is
``loop.run_in_executor`` on a ``ThreadPoolExecutor``: per call, one executor future and one wake-up of the
loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar
from weakref import WeakKeyDictionary

P = ParamSpec("P")
T = TypeVar("T")


class LoopThreads:
    """At most ``size`` threads per event loop, started as calls need them."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._pools: WeakKeyDictionary[asyncio.AbstractEventLoop, ThreadPoolExecutor] = WeakKeyDictionary()

    async def run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``func(*args, **kwargs)`` in one of the running loop's threads, in the caller's context."""
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = ThreadPoolExecutor(self.size, thread_name_prefix=self.name)
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        return await loop.run_in_executor(pool, call)

    async def drain(self, *, wait: bool = True) -> None:
        """Let the running loop's threads go once their calls finish (``wait``: await that); a later call
        starts a new pool."""
        loop = asyncio.get_running_loop()
        pool = self._pools.pop(loop, None)
        if pool is None:
            return
        if wait:
            await loop.run_in_executor(None, pool.shutdown)
        else:
            pool.shutdown(wait=False)
