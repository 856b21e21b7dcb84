"""SQLite's writers of every process, queued in the kernel.

SQLite admits one writer at a time. A writer that finds its lock taken by another process waits in SQLite's
busy handler, which sleeps 1, 2, 5, 10 … 100 ms between attempts whatever happens meanwhile. With two worker
processes the lock was mostly free while its waiters slept, and two workers completed no more enrollment
flows than one (BENCHMARKS.md, "SQLite's writers queued across processes"). So each write transaction of a
totpflow process first takes an exclusive ``flock(2)`` on the file ``<database>-writers``: a waiter sleeps in
the kernel until the holder lets go, and is woken then.

The queue orders writers; it does not protect anything. SQLite's own lock still decides who writes, so a
writer that does not queue (the ``sqlite3`` shell, a wait here that ran out) is as safe as before, only
slower. A wait is bounded (``timeout``): when it runs out the writer goes on to SQLite's lock and its busy
timeout, as a writer without the queue would.

A flock belongs to an open file, not to a process or a thread. The process's own descriptor serves the
writers that find the queue free; a writer that must wait blocks in a helper thread on a descriptor of its
own, which is closed, and the lock released, when its transaction ends, or as soon as the lock is obtained if
the wait was given up (timed out or cancelled) meanwhile. A forked child opens the file afresh. Only one
thread of a process may hold or wait for the queue at a time: the store's write lock sees to that.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not a POSIX system: writers wait in SQLite's busy handler only
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriterQueue", "queue_path"]

logger = logging.getLogger("totpflow.server")
SUFFIX = "-writers"


def queue_path(database: Path) -> Path:
    """The queue's file beside ``database``."""
    return database.with_name(database.name + SUFFIX)


class WriterQueue:
    """The queue of the writers of the SQLite database ``database``; a queue that cannot open its file (a
    folder this process may not write, another user's file) lets every writer through, and says so once."""

    def __init__(self, database: Path, *, timeout: float) -> None:
        self.path = queue_path(database)
        self.timeout = timeout  # seconds a writer waits in the queue before it goes on to SQLite's lock
        self._fd = -1  # the process's own descriptor, opened on first use
        self._pid = 0  # the process that opened it
        self._held = -1  # the descriptor that holds the lock, while a writer of this process holds it
        self._disabled = fcntl is None
        # the waits handed to the helper thread (:meth:`_wait`), once it is started; None ends it
        self._waits: queue.SimpleQueue[concurrent.futures.Future[int] | None] | None = None

    def try_enter(self) -> bool:
        """Take the queue if it is free; whether this writer now holds it (True also when disabled)."""
        fd = self._own()
        if fd < 0:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._held = fd
        return True

    def enter(self, timeout: float | None = None) -> bool:
        """Take the queue, waiting at most ``timeout`` seconds (default: the queue's); whether this writer
        holds it."""
        if self.try_enter():
            return True
        waiting = self._wait()
        try:
            self._held = waiting.result(self.timeout if timeout is None else timeout)
        except concurrent.futures.TimeoutError:
            waiting.add_done_callback(_close_obtained)
            return False
        except OSError:  # the helper could not open the file again: SQLite's lock decides alone
            return False
        return True

    async def enter_async(self) -> bool:
        """:meth:`enter` for a coroutine: the event loop runs on while the writer waits. If the awaiting task
        is cancelled, the lock is released as soon as the helper thread obtains it."""
        if self.try_enter():
            return True
        waiting = self._wait()
        try:
            self._held = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(waiting)), self.timeout)
        except OSError:  # TimeoutError included
            waiting.add_done_callback(_close_obtained)
            return False
        except BaseException:
            waiting.add_done_callback(_close_obtained)
            raise
        return True

    def leave(self) -> None:
        """Let the next writer in (after :meth:`try_enter`, :meth:`enter` or :meth:`enter_async` said this
        one holds the queue)."""
        held, self._held = self._held, -1
        if held < 0:
            return
        if held == self._fd:
            fcntl.flock(held, fcntl.LOCK_UN)
        else:
            os.close(held)  # a waiting descriptor: closing it releases its lock

    def close(self) -> None:
        """Release the queue if held and close its descriptors; the queue opens its file again on next use."""
        self.leave()
        if self._waits is not None:
            self._waits.put(None)  # the helper ends once it is done with the waits before it
            self._waits = None
        if self._fd >= 0 and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = -1

    def _own(self) -> int:
        if self._disabled:
            return -1
        if self._fd < 0 or self._pid != os.getpid():
            if self._fd >= 0:  # inherited across a fork: the parent's open file, whose lock is the parent's
                with contextlib.suppress(OSError):
                    os.close(self._fd)
                self._waits = None  # the parent's helper thread did not come along
            try:
                self._fd = self._open()
            except OSError as exc:
                self._disabled = True
                logger.warning(
                    "cannot open %s (%s): writers of this process wait for SQLite's lock unqueued",
                    self.path,
                    exc.strerror or type(exc).__name__,
                )
                return -1
            self._pid = os.getpid()
        return self._fd

    def _open(self) -> int:
        return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def _wait(self) -> concurrent.futures.Future[int]:
        """The helper thread opens a descriptor of its own and blocks on it until it holds the lock. It is a
        daemon thread: a process may exit while its helper still waits (for a holder that never let go, after
        the writer gave up), where an executor's thread would be joined and the exit would wait with it."""
        if self._waits is None:
            self._waits = queue.SimpleQueue()
            helper = threading.Thread(
                target=self._help, args=(self._waits,), name="totpflow-writer-queue", daemon=True
            )
            helper.start()
        waiting: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._waits.put(waiting)
        return waiting

    def _help(self, waits: queue.SimpleQueue[concurrent.futures.Future[int] | None]) -> None:
        while (waiting := waits.get()) is not None:
            if not waiting.set_running_or_notify_cancel():
                continue
            try:
                fd = self._open()
            except OSError as exc:
                waiting.set_exception(exc)
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as exc:
                os.close(fd)
                waiting.set_exception(exc)
                continue
            waiting.set_result(fd)


def _close_obtained(waiting: concurrent.futures.Future[int]) -> None:
    """After a wait was given up: release the lock the helper thread obtained (or close nothing)."""
    if not waiting.cancelled() and waiting.exception() is None:
        os.close(waiting.result())
