"""The store: SQLite and PostgreSQL behind one implementation.

``Store.transaction()`` yields a ``Tx`` whose methods are the queries services need, grouped by concept in
the modules it composes (``projects``, ``users``, ``totps``, ``sessions``, ``counters``, ``admin``); services
see them through ``totpflow.server.storage.protocol``. The store begins and ends each transaction itself on
a pooled DB-API connection; the queries of the per-request paths run there as plain SQL (``storage.sql``),
the others (search, operator commands, key rotation, updates) through SQLAlchemy Core over the same
connection. Every method takes the calling project's id and filters on it, so one project never reads or
changes another's rows. Invariants that must hold across processes are single statements: a conditional
UPDATE whose row count decides (TOTP replay, recovery code use, failure counting and locking) or a
constraint (unique email, one live TOTP per user).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import Any, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

from totpflow.server import errors, suspend
from totpflow.server.storage import request_guard
from totpflow.server.storage.admin import AdminQueries
from totpflow.server.storage.counters import CounterQueries
from totpflow.server.storage.master_key import MasterKeyQueries
from totpflow.server.storage.projects import ProjectQueries
from totpflow.server.storage.protocol import Transaction, WouldWait
from totpflow.server.storage.records import Hit, NewUser, UserChanges, UserHit
from totpflow.server.storage.sessions import SessionQueries
from totpflow.server.storage.sql import Backend
from totpflow.server.storage.totps import TotpQueries
from totpflow.server.storage.users import UserQueries
from totpflow.server.storage.writer_queue import WriterQueue

__all__ = ["NewUser", "Store", "Tx", "UserChanges"]

logger = logging.getLogger("totpflow.server")
# SQLite's primary result codes after which the store is not used again (``errors.StoreFailed``)
_FAILED_STORAGE = {10: "SQLITE_IOERR", 11: "SQLITE_CORRUPT", 26: "SQLITE_NOTADB"}
COUNTER_PRUNE_EVERY_SECONDS = 60
LOOP_CHECKPOINT_EVERY = 100  # commits on the loop connection between WAL checkpoints (a thread runs them)
# Frames in the WAL (16 MiB of 4 KiB pages) from which that checkpoint also restarts the WAL, so that it is
# written again from its start: a PASSIVE checkpoint alone never finds it all copied while writes go on, and
# the WAL, with the index in shared memory that every process maps, would then grow without end.
WAL_RESTART_FRAMES = 4_096
RESTART_WAIT_MS = 200  # how long a restarting checkpoint waits for the writer and the WAL's readers
T = TypeVar("T")


class Tx(
    ProjectQueries, UserQueries, TotpQueries, SessionQueries, CounterQueries, AdminQueries, MasterKeyQueries
):
    """Queries inside one database transaction."""

    def execute(self, statement: Any, params: dict[str, Any] | None = None) -> Any:
        """Run any statement: for tests and tools that inspect the database; services use the named
        queries (``totpflow.server.storage.protocol.Transaction``)."""
        return self._c.execute(statement, params)


class Store:
    """A database behind one engine. Thread-safe; share one per process."""

    def __init__(
        self, engine: Engine, durable_engine: Engine | None = None, *, writers: WriterQueue | None = None
    ) -> None:
        self.engine = engine
        # SQLite: connections with synchronous=FULL for ``transaction(durable=True)``; None where every
        # commit is durable already (PostgreSQL).
        self.durable_engine = durable_engine
        # SQLite has one writer at a time. Threads of this process queue for it on a lock, in order and
        # without sleeping, and then, with the writers of the other processes, in ``writers`` (a database
        # file's queue, ``storage.writer_queue``), so that no writer waits in SQLite's busy handler, whose
        # growing sleeps made the tail latency of concurrent writers seconds long.
        self.writers = writers
        self._write_lock: threading.Lock | nullcontext[None] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        # Whether ``transaction(durable=True)`` uses ``durable_engine``; off only to measure what that costs
        # (bench/bench_sqlite_sync.py).
        self.durable_commits = True
        # Unix time after which this process next deletes ended rate-counter windows.
        self.next_counter_prune = 0.0
        # SQLite's error name once it reported an I/O error or corruption: every transaction is refused from
        # then on (``errors.StoreFailed``, ``docs/reliability.md``); None while the store is sound.
        self.failure: str | None = None
        self._sqlite = engine.dialect.name == "sqlite"
        self._backend = Backend(engine.dialect.name)
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        # Called with the text of each statement sent on the per-request path and "BEGIN" for each
        # transaction (bench/ counts them); None in production.
        self.observe: Callable[[str], None] | None = None
        # SQLite, calls run on the event loop (``run_on_loop``): the connection of their write transactions
        # (busy_timeout=0, used only under the write lock), its commits since the last checkpoint, the queue
        # of those transactions on each loop ahead of the write lock (a call waiting for another call of the
        # same loop waits there, with no thread involved), the thread whose suspended call holds the write
        # lock, and the helper threads of the waits and durable COMMITs.
        self._loop_connection: PoolProxiedConnection | None = None
        self._loop_commits = 0
        self._loop_queues: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()
        self._lock_held_for_loop: int | None = None
        self._loop_waits: ThreadPoolExecutor | None = None
        self._checkpointing = False
        self._checkpointer: ThreadPoolExecutor | None = None
        self.wal_restart_frames = WAL_RESTART_FRAMES

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def engines(self) -> tuple[Engine, ...]:
        return (self.engine,) if self.durable_engine is None else (self.engine, self.durable_engine)

    @contextmanager
    def transaction(self, *, readonly: bool = False, durable: bool = False) -> Iterator[Tx]:
        """A transaction; committed when the block ends normally, rolled back on any exception.

        On SQLite a read-write transaction starts with ``BEGIN IMMEDIATE`` (it takes the write lock up
        front, so concurrent writers queue on ``busy_timeout`` instead of failing on a lock upgrade);
        ``readonly`` ones use a deferred ``BEGIN`` and, in WAL mode, never block. A ``durable`` one commits
        with ``synchronous=FULL``: when it returns, the commit is on disk (for the transactions that consume a
        TOTP step or a recovery code, whose loss in a power cut would allow one replay). SQLite syncs the WAL
        before it publishes such a commit to other connections, so no transaction in any process reads a
        consumed step that is not yet on disk; a ``NORMAL`` commit followed by a shared fsync outside the lock
        would lose that (docs/reliability.md, "Not taken: group durability").

        On PostgreSQL a ``readonly`` transaction reads one snapshot (``REPEATABLE READ``, ``READ ONLY``, set
        on the connection so it costs no round trip): its statements agree with each other, so a search
        page's count, ids and users are of one moment even while users are deleted. A read-only transaction
        at that level never fails on a concurrent write.
        """
        if self.failure is not None:
            raise errors.StoreFailed(self.failure)
        engine = self.engine
        if durable and self.durable_commits and self.durable_engine is not None:
            engine = self.durable_engine
        if not readonly and self._sqlite and suspend.suspended():
            yield from self._loop_transaction(durable and self.durable_commits)
            return
        if not readonly and self._lock_held_for_loop == threading.get_ident():
            # waiting here would never end: the holder resumes only when this thread returns to its loop
            raise RuntimeError(
                "a write on the event loop's thread while a call suspended there holds the lock"
            )
        with nullcontext() if readonly else self._write_lock, self._queued(readonly):
            try:
                pooled = engine.raw_connection()
            except self._dbapi_error as exc:
                raise self._wrapped(engine, None, exc) from exc
            try:
                with self._run(engine, pooled, readonly=readonly) as tx:
                    yield tx
            finally:
                pooled.close()

    @contextmanager
    def _queued(self, readonly: bool = False, timeout: float | None = None) -> Iterator[None]:
        """In the writers' queue for the block (waiting at most ``timeout`` seconds, default the queue's),
        unless ``readonly`` or the wait ran out."""
        queued = not readonly and self.writers is not None and self.writers.enter(timeout)
        try:
            yield
        finally:
            if queued:
                assert self.writers is not None
                self.writers.leave()

    @contextmanager
    def _run(
        self,
        engine: Engine,
        pooled: PoolProxiedConnection,
        *,
        readonly: bool,
        begun: bool = False,
        commit: Callable[[Any], None] | None = None,
    ) -> Iterator[Tx]:
        """BEGIN on ``pooled`` (unless ``begun``), the block, then COMMIT (by ``commit(raw)`` if given;
        ROLLBACK on any exception); driver errors raised as SQLAlchemy would have raised them."""
        raw = pooled.dbapi_connection
        assert raw is not None
        snapshot = readonly and not self._sqlite and not begun
        if snapshot:  # psycopg begins the transaction itself, with these, before the first statement
            from psycopg import IsolationLevel

            raw.isolation_level, raw.read_only = IsolationLevel.REPEATABLE_READ, True
        try:
            if self._sqlite and not begun:  # psycopg begins a transaction itself before the first statement
                raw.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")
            if self.observe is not None:
                self.observe("BEGIN")
            try:
                tx = Tx(engine, pooled, self._backend, self.observe)
                request_guard.run_pending(self, tx)  # a request's credential check, before its statements
                yield tx
            except BaseException as exc:
                self._stop_on(getattr(exc, "orig", None) or exc)  # SQLAlchemy Core wraps the driver's error
                raw.rollback()
                raise
            if commit is None:
                raw.commit()
            else:
                commit(raw)
        except self._dbapi_error as exc:
            raise self._wrapped(engine, pooled, exc) from exc
        finally:
            if snapshot and not raw.closed:  # the connection's next transaction may write
                with suppress(self._dbapi_error):  # a connection left in a failed state is not reused
                    raw.isolation_level, raw.read_only = None, None

    def _wrapped(self, engine: Engine, pooled: PoolProxiedConnection | None, exc: Exception) -> Exception:
        """``exc`` of the driver as SQLAlchemy would have raised it (a lost connection leaves the pool); on an
        I/O error or corruption of SQLite, the store stops first (:meth:`_stop_on`)."""
        self._stop_on(exc)
        dbapi_exc: Any = exc
        if pooled is not None and engine.dialect.is_disconnect(dbapi_exc, pooled.dbapi_connection, None):
            pooled.invalidate(exc)
        return DBAPIError.instance(None, None, exc, self._dbapi_error, dialect=engine.dialect)

    def _stop_on(self, exc: BaseException) -> None:
        """After SQLite reported an I/O error or corruption, refuse every later transaction of this process
        (``errors.StoreFailed``) and say so once in the log, with SQLite's error name only: a write or fsync
        that failed may leave the kernel's copy of a page marked clean and different from the disk, so nothing
        this process reads or writes from then on can be trusted until it is restarted and SQLite recovers the
        database from what is on disk."""
        code = getattr(exc, "sqlite_errorcode", None)
        if not isinstance(code, int) or code & 0xFF not in _FAILED_STORAGE or self.failure is not None:
            return
        self.failure = str(getattr(exc, "sqlite_errorname", None) or _FAILED_STORAGE[code & 0xFF])
        logger.critical(
            "the database reported %s: this process refuses every request that reads or writes it until "
            "it is restarted; check the disk and the database file first",
            self.failure,
        )

    async def run_on_loop(self, call: Callable[[], T]) -> T:
        """``call()`` on this thread, the event loop's, in a greenlet that suspends where a write transaction
        would wait, so that the loop goes on serving meanwhile (``storage.suspend``): for the process's write
        lock, for SQLite's lock held by another process, and for the fsync of a durable COMMIT, each of which
        runs in a helper thread (``docs/reliability.md``, "Service calls on the event loop"). On PostgreSQL,
        :class:`~totpflow.server.storage.protocol.WouldWait` before the call starts: its statements are
        network round trips, which a thread waits for."""
        if not self._sqlite:
            raise WouldWait()
        return await suspend.drive(call)

    def _loop_transaction(self, durable: bool) -> Iterator[Tx]:
        """A write transaction of a call of :meth:`run_on_loop`, on the loop connection; ``durable``: with
        ``synchronous=FULL`` for its COMMIT, which a helper thread makes."""
        lock = self._write_lock
        assert not isinstance(lock, nullcontext)  # SQLite
        loop = asyncio.get_running_loop()
        queue = self._loop_queues.get(loop)
        if queue is None:
            queue = self._loop_queues[loop] = asyncio.Lock()
        suspend.wait(queue.acquire())
        try:
            yield from self._loop_transaction_locked(lock, durable)
        finally:
            queue.release()
        self._loop_committed()

    def _loop_transaction_locked(self, lock: threading.Lock, durable: bool) -> Iterator[Tx]:
        if not lock.acquire(blocking=False):
            suspend.wait(suspend.acquire(self._waits(), lock))
        self._lock_held_for_loop = threading.get_ident()
        queued = False
        try:
            writers = self.writers
            if writers is not None:
                queued = writers.try_enter() or suspend.wait(writers.enter_async())
            pooled = self._loop_pooled()
            raw = pooled.dbapi_connection
            assert raw is not None
            try:
                if durable:
                    raw.execute("PRAGMA synchronous=FULL")  # per connection; back to NORMAL below
                try:
                    self._begin_on_loop(pooled, raw)
                    commit = self._commit_in_thread if durable else None
                    with self._run(self.engine, pooled, readonly=False, begun=True, commit=commit) as tx:
                        yield tx
                except BaseException:
                    # a failed COMMIT can leave SQLite's transaction open, and so can a cancellation that
                    # arrives once a helper thread has begun it
                    self._reset_loop_connection()
                    raise
            except self._dbapi_error as exc:
                raise self._wrapped(self.engine, pooled, exc) from exc
            finally:
                if durable:
                    self._back_to_normal(pooled)
        finally:
            if queued:
                assert self.writers is not None
                self.writers.leave()
            self._lock_held_for_loop = None
            lock.release()

    def _begin_on_loop(self, pooled: PoolProxiedConnection, raw: Any) -> None:
        """BEGIN IMMEDIATE on the loop connection (busy_timeout=0); when another process holds SQLite's
        lock, again in a helper thread with the usual busy timeout, the call suspended meanwhile."""
        try:
            raw.execute("BEGIN IMMEDIATE")
        except self._dbapi_error:
            suspend.wait(suspend.in_thread(self._waits(), functools.partial(_begin_waiting, raw)))

    def _commit_in_thread(self, raw: Any) -> None:
        suspend.wait(suspend.in_thread(self._waits(), raw.commit))

    def _back_to_normal(self, pooled: PoolProxiedConnection) -> None:
        raw = pooled.dbapi_connection
        if raw is None:
            return
        try:
            raw.execute("PRAGMA synchronous=NORMAL")
        except self._dbapi_error:
            pooled.invalidate()  # replaced on next use, with the engine's settings

    def _waits(self) -> ThreadPoolExecutor:
        if self._loop_waits is None:
            self._loop_waits = ThreadPoolExecutor(2, thread_name_prefix="totpflow-loop-wait")
        return self._loop_waits

    def _reset_loop_connection(self) -> None:
        """Leave the loop connection outside any transaction (a new one next time if that fails)."""
        pooled = self._loop_connection
        if pooled is None or pooled.dbapi_connection is None:
            return
        try:
            pooled.dbapi_connection.rollback()
        except self._dbapi_error:
            pooled.invalidate()

    def _loop_pooled(self) -> PoolProxiedConnection:
        """The loop connection (a new one after a failure invalidated it)."""
        if self._loop_connection is None or self._loop_connection.dbapi_connection is None:
            if self._loop_connection is not None:
                self._loop_connection.close()  # invalidated: back to the pool, which replaces it
                self._loop_connection = None
            pooled = self.engine.raw_connection()
            raw = pooled.dbapi_connection
            assert raw is not None
            raw.execute("PRAGMA busy_timeout=0")
            raw.execute("PRAGMA wal_autocheckpoint=0")  # its checkpoints run in a thread: _loop_committed
            self._loop_connection = pooled
        return self._loop_connection

    def _loop_committed(self) -> None:
        """Count a commit on the loop connection; every ``LOOP_CHECKPOINT_EVERY``, checkpoint the WAL in a
        thread (a checkpoint syncs the WAL and the database file, which must not stall the event loop; the
        loop connection does not checkpoint on its own)."""
        self._loop_commits += 1
        if self._loop_commits < LOOP_CHECKPOINT_EVERY or self._checkpointing:
            return
        self._loop_commits = 0
        self._checkpointing = True
        if self._checkpointer is None:
            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="totpflow-checkpoint")
        self._checkpointer.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        """A PASSIVE checkpoint, which never waits for readers or writers; then, once the WAL holds
        ``wal_restart_frames`` frames, a RESTART one under this process's write lock and in the writers' queue
        (writers of every process queue there instead of racing it for SQLite's lock). That copies what the
        PASSIVE one could not, and waits at most ``RESTART_WAIT_MS`` for the queue, for a writer that did not
        queue and for the readers of the WAL, so that the next commit writes the WAL from its start. A
        failure, or a wait that runs out, leaves it to the next checkpoint."""
        try:
            pooled = self.engine.raw_connection()
            try:
                raw = pooled.dbapi_connection
                assert raw is not None
                _, frames, _ = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if frames >= self.wal_restart_frames:
                    waits = raw.execute("PRAGMA busy_timeout").fetchone()[0]
                    raw.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
                    try:
                        with self._write_lock, self._queued(timeout=RESTART_WAIT_MS / 1000):
                            raw.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
                    finally:
                        raw.execute(f"PRAGMA busy_timeout={int(waits)}")
            finally:
                pooled.close()
        except self._dbapi_error as exc:  # left to the next checkpoint, unless the storage failed
            self._stop_on(exc)
        finally:
            self._checkpointing = False

    def first_transaction_check(self, check: Callable[[Transaction], None]) -> AbstractContextManager[None]:
        """Within the block, run ``check(tx)`` right after ``BEGIN`` of the next transaction opened in this
        context (thread or task), once; a check that raises rolls that transaction back
        (``storage.request_guard``)."""
        return request_guard.first_transaction_check(self, check)

    def check_pending(self) -> bool:
        """Whether a check registered with :meth:`first_transaction_check` is still to run."""
        return request_guard.pending(self)

    def dispose(self) -> None:
        """Close the pooled connections once no call uses them (the store stays usable)."""
        if self._loop_connection is not None:
            # not back to the pool as it is (busy_timeout=0): closed, its pool slot reconnects
            if self._loop_connection.dbapi_connection is not None:
                self._loop_connection.invalidate()
            self._loop_connection.close()
            self._loop_connection = None
        if self._checkpointer is not None:
            self._checkpointer.shutdown(wait=True)
            self._checkpointer = None
        if self._loop_waits is not None:
            self._loop_waits.shutdown(wait=True)
            self._loop_waits = None
        if self.writers is not None:
            self.writers.close()
        for engine in self.engines:
            engine.dispose()

    def count_hits(self, hits: Sequence[Hit | UserHit], now_epoch: float) -> list[int]:
        """Count one request in each rate-limit counter, in a transaction of its own; the new counts, in
        order. Ended windows are deleted by whichever process first finds, at most once a minute, that it is
        its turn: one indexed range delete."""
        with self.transaction() as tx:
            counts = tx.count_hits(hits)
            if now_epoch >= self.next_counter_prune:
                self.next_counter_prune = now_epoch + COUNTER_PRUNE_EVERY_SECONDS
                tx.prune_counters(int(now_epoch))
        return counts


def _begin_waiting(raw: Any) -> None:
    """BEGIN IMMEDIATE on a connection whose busy_timeout is 0, waiting for SQLite's lock as long as the
    engine's connections do."""
    from totpflow.server.storage import BUSY_TIMEOUT_MS

    raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    try:
        raw.execute("BEGIN IMMEDIATE")
    finally:
        raw.execute("PRAGMA busy_timeout=0")
