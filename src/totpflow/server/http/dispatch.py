"""The one way from an HTTP request to a service: :func:`run` checks every value a handler hands on, then runs
the synchronous service on the event loop's service threads, so the event loop never blocks on the database.

Every value that can reach a query passes here exactly once: the Basic credentials (``project_id`` and
secret, by ``totpflow.server.http.auth``), ids from the path and the query string, and every body field with
its nested objects, lists and keys (by ``totpflow.server.http.routes``). The check is that no string among
them holds NUL (U+0000): no id or field of this API holds one, and PostgreSQL ``text`` and ``jsonb`` cannot
store it (the driver raises, which would be a 500), so it is refused as ``400 bad_request`` on every backend
alike. A value a handler does not hand on reaches no query and is not looked at.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Concatenate, Final, ParamSpec, TypeVar

import msgspec

from totpflow.server.http.errors import MalformedBody
from totpflow.server.http.threads import LoopThreads
from totpflow.server.services import Deps
from totpflow.server.storage.protocol import WouldWait

P = ParamSpec("P")
R = TypeVar("R")

NUL_MESSAGE: Final = "strings must not contain the NUL character (U+0000)"

# Threads of a worker that run service calls (the synchronous store). SQLite takes one writer at a time and
# every thread competes for the GIL, so more threads only lengthen the write lock's hold (its holder waits for
# the GIL) and churn pooled connections beyond the pool's size (8 on SQLite, 10 on PostgreSQL). Measured side
# by side, 32 connections (bench/bench_server.py's closed loop): 8 threads rather than anyio's default of 40
# gave PostgreSQL 1.54x the flows/s with 1 worker and 1.27x with 2, p99 about half; SQLite the same flows/s,
# p99 about 30 % lower; and less memory per worker.
SERVICE_THREADS: Final = 8
service_threads: Final = LoopThreads(SERVICE_THREADS, "totpflow-service")


def holds_nul(value: object) -> bool:
    """Whether any string in ``value`` (str, dict keys and values, list, tuple, msgspec Struct, dataclass,
    nested to any depth) contains NUL. Iterative: a body may nest deeper than Python's recursion limit."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
        elif isinstance(item, msgspec.Struct):
            pending.extend(getattr(item, name) for name in item.__struct_fields__)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            pending.extend(getattr(item, f.name) for f in dataclasses.fields(item))
    return False


async def run(service: Callable[Concatenate[Deps, P], R], deps: Deps, *args: P.args, **kwargs: P.kwargs) -> R:
    """``service(deps, *args, **kwargs)`` in the thread pool, once no string in ``args`` or ``kwargs`` holds
    NUL (:class:`MalformedBody` otherwise). ``deps`` is the server's own and is not checked."""
    if holds_nul((args, kwargs)):
        raise MalformedBody(NUL_MESSAGE)
    return await service_threads.run(service, deps, *args, **kwargs)


async def run_on_loop(
    service: Callable[Concatenate[Deps, P], R], deps: Deps, *args: P.args, **kwargs: P.kwargs
) -> R:
    """As :func:`run`, but the call runs on the event loop's own thread, suspended wherever it would wait
    (``Storage.run_on_loop``); in the thread pool when it cannot start there."""
    if holds_nul((args, kwargs)):
        raise MalformedBody(NUL_MESSAGE)
    try:
        return await deps.store.run_on_loop(functools.partial(service, deps, *args, **kwargs))
    except WouldWait:
        return await service_threads.run(service, deps, *args, **kwargs)
