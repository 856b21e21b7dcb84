"""Synchronous service calls that run on the event loop's thread and suspend where they would block it.

``Store.run_on_loop`` runs a call in a greenlet on the loop's thread. Where the call would block that
thread — the process's write lock held by another thread, SQLite's lock held by another process, the fsync
of a durable COMMIT, the generation of an RSA key (:func:`offload`) — it calls :func:`wait` with the
blocking step as an awaitable: the greenlet switches back to the driver coroutine (:func:`drive`), which
awaits it on the loop (the step itself runs in a helper thread) while the loop serves other requests, then
switches back into the call with the result or the exception. Everything else of the call (its
statements, its cryptography) runs on the loop's thread with no hand-off at all: on the build machines, the
calls of an enrollment flow handed to threads cost 1.5× the CPU (BENCHMARKS.md, "Service calls on the
event loop, suspended").

The greenlet shares the driving task's ``contextvars`` context, so context variables set inside the call
(the request's credential check having run, its project for the log) are seen by the request after it.

A step handed to a helper thread is never abandoned halfway: if the request is cancelled meanwhile, the
step finishes first (a COMMIT completes or fails, a lock that is acquired is released again), and the
cancellation is raised into the call afterwards, which rolls back what has not been committed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, TypeVar

import greenlet

T = TypeVar("T")

__all__ = ["acquire", "drive", "in_thread", "offload", "suspended", "wait"]

_offloaded: ThreadPoolExecutor | None = None  # the helper threads of :func:`offload`, started on first use


class _Call(greenlet.greenlet):  # type: ignore[misc]  # greenlet's class is not typed as subclassable
    """The greenlet of one call, and the driver greenlet it switches back to."""

    def __init__(self, run: Callable[[], Any], driver: greenlet.greenlet) -> None:
        super().__init__(run, driver)
        self.driver = driver
        self.gr_context = driver.gr_context  # the driving task's context, shared


async def drive(call: Callable[[], T]) -> T:
    """``call()`` in a greenlet on this thread; each step it hands to :func:`wait` is awaited here."""
    child = _Call(call, greenlet.getcurrent())
    request = child.switch()
    while not child.dead:
        try:
            value = await request
        except BaseException as exc:  # every outcome of the step goes back into the call
            request = child.throw(exc)
        else:
            request = child.switch(value)
    result: T = request
    return result


def suspended() -> bool:
    """Whether this code runs inside a call started by :func:`drive`."""
    return isinstance(greenlet.getcurrent(), _Call)


def wait(awaitable: Awaitable[T]) -> T:
    """Inside a call of :func:`drive`: suspend it until ``awaitable`` (awaited by the driver) is done; its
    result, or its exception raised here."""
    current = greenlet.getcurrent()
    if not isinstance(current, _Call):
        raise RuntimeError("suspend.wait outside a call started by suspend.drive")
    result: T = current.driver.switch(awaitable)
    return result


async def in_thread(executor: Executor, step: Callable[[], T]) -> T:
    """``step()`` in ``executor``; awaited to its end even if the awaiting task is cancelled meanwhile (the
    cancellation is raised once the step is over)."""
    future = asyncio.get_running_loop().run_in_executor(executor, step)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(future)
            break
        except asyncio.CancelledError as exc:
            cancelled = exc
            if future.done():
                result = future.result()  # the step's own exception, if it failed, wins
                break
    if cancelled is not None:
        raise cancelled
    return result


async def acquire(executor: Executor, lock: threading.Lock) -> None:
    """Acquire ``lock`` in ``executor``'s thread, without blocking the loop; if the awaiting task is cancelled
    first, the lock is released as soon as the thread gets it."""
    future = asyncio.get_running_loop().run_in_executor(executor, lock.acquire)
    try:
        await asyncio.shield(future)
    except asyncio.CancelledError:
        future.add_done_callback(lambda done: lock.release() if done.exception() is None else None)
        raise


def offload(step: Callable[[], T]) -> T:
    """``step()``: in a helper thread with the call suspended when it runs inside :func:`drive` (work that
    holds no lock of the store and releases the GIL, such as generating an RSA key); directly otherwise."""
    global _offloaded
    if not suspended():
        return step()
    if _offloaded is None:
        _offloaded = ThreadPoolExecutor(2, thread_name_prefix="totpflow-offload")
    return wait(in_thread(_offloaded, step))
