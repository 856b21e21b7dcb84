"""``totpflow.server.suspend``: a synchronous call driven in a greenlet on the event loop's thread, its waits
awaited on the loop, its results, exceptions and context variables carried across."""

from __future__ import annotations

import asyncio
import threading
from contextvars import ContextVar

import pytest

from totpflow.server import suspend

seen: ContextVar[str] = ContextVar("seen", default="unset")


async def later(value: int) -> int:
    await asyncio.sleep(0.01)
    return value


def test_a_call_runs_on_the_loops_thread_and_its_waits_are_awaited() -> None:
    def call() -> tuple[int, int]:
        assert suspend.suspended()
        first = suspend.wait(later(1))
        second = suspend.wait(later(2))
        return first + second, threading.get_ident()

    async def main() -> tuple[tuple[int, int], int]:
        return await suspend.drive(call), threading.get_ident()

    (total, ran_on), loop_thread = asyncio.run(main())
    assert total == 3 and ran_on == loop_thread
    assert not suspend.suspended()


def test_exceptions_cross_both_ways() -> None:
    async def failing() -> None:
        raise KeyError("from the awaitable")

    def call() -> str:
        with pytest.raises(KeyError, match="from the awaitable"):
            suspend.wait(failing())
        raise ValueError("from the call")

    with pytest.raises(ValueError, match="from the call"):
        asyncio.run(suspend.drive(call))


def test_context_variables_set_inside_are_seen_after() -> None:
    async def main() -> str:
        seen.set("before")

        def call() -> None:
            assert seen.get() == "before"
            suspend.wait(later(0))
            seen.set("inside")

        await suspend.drive(call)
        return seen.get()

    assert asyncio.run(main()) == "inside"


def test_wait_outside_a_driven_call_is_refused() -> None:
    awaitable = later(0)
    with pytest.raises(RuntimeError, match=r"suspend\.drive"):
        suspend.wait(awaitable)
    awaitable.close()


def test_offload_runs_in_a_helper_thread_only_inside_a_driven_call() -> None:
    assert suspend.offload(threading.get_ident) == threading.get_ident()

    async def main() -> tuple[int, int]:
        return await suspend.drive(lambda: suspend.offload(threading.get_ident)), threading.get_ident()

    ran_on, loop_thread = asyncio.run(main())
    assert ran_on != loop_thread


def test_a_lock_acquired_for_a_cancelled_waiter_is_released() -> None:
    lock = threading.Lock()
    lock.acquire()

    async def main() -> None:
        with ThreadPool() as pool:
            waiter = asyncio.create_task(suspend.acquire(pool.executor, lock))
            await asyncio.sleep(0.05)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            lock.release()  # the helper thread now gets it, for nobody: it lets it go
            await asyncio.sleep(0.1)

    asyncio.run(main())
    assert lock.acquire(timeout=2)


def test_a_step_in_a_thread_finishes_before_the_cancellation_is_raised() -> None:
    release = threading.Event()
    finished: list[bool] = []

    def step() -> None:
        release.wait(5)
        finished.append(True)

    async def main() -> None:
        with ThreadPool() as pool:
            task = asyncio.create_task(suspend.in_thread(pool.executor, step))
            await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.sleep(0.05)
            assert not task.done()
            release.set()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert finished == [True]

    asyncio.run(main())


class ThreadPool:
    """A one-thread executor for the duration of a block."""

    def __enter__(self) -> ThreadPool:
        from concurrent.futures import ThreadPoolExecutor

        self.executor = ThreadPoolExecutor(1)
        return self

    def __exit__(self, *_: object) -> None:
        self.executor.shutdown(wait=True)
