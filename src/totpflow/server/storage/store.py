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

import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import PoolProxiedConnection

from totpflow.server.storage import inline, request_guard
from totpflow.server.storage.admin import AdminQueries
from totpflow.server.storage.counters import CounterQueries
from totpflow.server.storage.projects import ProjectQueries
from totpflow.server.storage.protocol import Transaction
from totpflow.server.storage.records import Hit, NewUser, UserChanges, UserHit
from totpflow.server.storage.sessions import SessionQueries
from totpflow.server.storage.sql import Backend
from totpflow.server.storage.totps import TotpQueries
from totpflow.server.storage.users import UserQueries

__all__ = ["NewUser", "Store", "Tx", "UserChanges"]

COUNTER_PRUNE_EVERY_SECONDS = 60
T = TypeVar("T")


class Tx(ProjectQueries, UserQueries, TotpQueries, SessionQueries, CounterQueries, AdminQueries):
    """Queries inside one database transaction."""

    def execute(self, statement: Any, params: dict[str, Any] | None = None) -> Any:
        """Run any statement: for tests and tools that inspect the database; services use the named
        queries (``totpflow.server.storage.protocol.Transaction``)."""
        return self._c.execute(statement, params)


class Store:
    """A database behind one engine. Thread-safe; share one per process."""

    def __init__(self, engine: Engine, durable_engine: Engine | None = None) -> None:
        self.engine = engine
        # SQLite: connections with synchronous=FULL for ``transaction(durable=True)``; None where every
        # commit is durable already (PostgreSQL).
        self.durable_engine = durable_engine
        # SQLite has one writer at a time. Threads of this process queue for it on a lock, in order and
        # without sleeping; only other processes wait in SQLite's busy handler, whose growing sleeps made
        # the tail latency of concurrent writers seconds long.
        self._write_lock: threading.Lock | nullcontext[None] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        # Whether ``transaction(durable=True)`` uses ``durable_engine``; off only to measure what that costs
        # (bench/bench_sqlite_sync.py).
        self.durable_commits = True
        # Unix time after which this process next deletes ended rate-counter windows.
        self.next_counter_prune = 0.0
        self._sqlite = engine.dialect.name == "sqlite"
        self._backend = Backend(engine.dialect.name)
        self._dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error
        # Called with the text of each statement sent on the per-request path and "BEGIN" for each
        # transaction (bench/ counts them); None in production.
        self.observe: Callable[[str], None] | None = None
        # SQLite: the connection of inline calls (``run_inline``), with busy_timeout=0; one inline call at a
        # time uses it.
        self._inline_guard = threading.Lock()
        self._inline_connection: PoolProxiedConnection | None = None
        self._inline_commits = 0  # since the last checkpoint it asked for
        self._checkpointing = False
        self._checkpointer: ThreadPoolExecutor | None = None

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
        """
        engine = self.engine
        if durable and self.durable_commits and self.durable_engine is not None:
            engine = self.durable_engine
        attempt = inline.current()
        if attempt is not None and not readonly and not attempt.wrote:
            with self._inline_write(durable) as pooled:
                try:
                    with self._run(engine, pooled, readonly=False, begun=True) as tx:
                        yield tx
                except BaseException:
                    self._reset_inline_connection()  # a failed COMMIT can leave SQLite's transaction open
                    raise
                attempt.wrote = True  # committed: a later write of this call can no longer be abandoned
            self._inline_committed()
            return
        with nullcontext() if readonly else self._write_lock:
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
    def _run(
        self, engine: Engine, pooled: PoolProxiedConnection, *, readonly: bool, begun: bool = False
    ) -> Iterator[Tx]:
        """BEGIN on ``pooled`` (unless ``begun``), the block, then COMMIT (ROLLBACK on any exception);
        driver errors raised as SQLAlchemy would have raised them."""
        raw = pooled.dbapi_connection
        assert raw is not None
        try:
            if self._sqlite and not begun:  # psycopg begins a transaction itself before the first statement
                raw.execute("BEGIN" if readonly else "BEGIN IMMEDIATE")
            if self.observe is not None:
                self.observe("BEGIN")
            try:
                tx = Tx(engine, pooled, self._backend, self.observe)
                request_guard.run_pending(self, tx)  # a request's credential check, before its statements
                yield tx
            except BaseException:
                raw.rollback()
                raise
            raw.commit()
        except self._dbapi_error as exc:
            raise self._wrapped(engine, pooled, exc) from exc

    def _wrapped(self, engine: Engine, pooled: PoolProxiedConnection | None, exc: Exception) -> Exception:
        """``exc`` of the driver as SQLAlchemy would have raised it (a lost connection leaves the pool)."""
        dbapi_exc: Any = exc
        if pooled is not None and engine.dialect.is_disconnect(dbapi_exc, pooled.dbapi_connection, None):
            pooled.invalidate(exc)
        return DBAPIError.instance(None, None, exc, self._dbapi_error, dialect=engine.dialect)

    def run_inline(self, call: Callable[[], T]) -> T:
        """``call()`` on this thread, if its first write transaction can begin at once and is not durable;
        else :class:`~totpflow.server.storage.inline.WouldWait`, raised before anything was written
        (``storage.inline``). Only SQLite runs calls inline."""
        if not self._sqlite or not self._inline_guard.acquire(blocking=False):
            raise inline.WouldWait()
        token = inline.begin()
        try:
            return call()
        finally:
            inline.end(token)
            self._inline_guard.release()

    @contextmanager
    def _inline_write(self, durable: bool) -> Iterator[PoolProxiedConnection]:
        """The write lock and the inline connection for an inline call's first write, or ``WouldWait``."""
        if durable and self.durable_commits:
            raise inline.WouldWait()
        lock = self._write_lock
        if isinstance(lock, nullcontext) or not lock.acquire(timeout=inline.INLINE_LOCK_WAIT):
            raise inline.WouldWait()
        try:
            try:
                pooled = self._inline_pooled()
                raw = pooled.dbapi_connection
                assert raw is not None
                raw.execute("BEGIN IMMEDIATE")  # busy_timeout=0: another process's lock answers at once
            except self._dbapi_error:
                # busy, or anything else: the call goes to a thread, whose transaction waits or reports it
                self._reset_inline_connection()
                raise inline.WouldWait() from None
            yield pooled
        finally:
            lock.release()

    def _reset_inline_connection(self) -> None:
        """Leave the inline connection outside any transaction (a new one next time if that fails)."""
        pooled = self._inline_connection
        if pooled is None or pooled.dbapi_connection is None:
            return
        try:
            pooled.dbapi_connection.rollback()
        except self._dbapi_error:
            pooled.invalidate()

    def _inline_pooled(self) -> PoolProxiedConnection:
        """The inline connection (a new one after a failure invalidated it)."""
        if self._inline_connection is None or self._inline_connection.dbapi_connection is None:
            if self._inline_connection is not None:
                self._inline_connection.close()  # invalidated: back to the pool, which replaces it
                self._inline_connection = None
            pooled = self.engine.raw_connection()
            raw = pooled.dbapi_connection
            assert raw is not None
            raw.execute("PRAGMA busy_timeout=0")
            raw.execute("PRAGMA wal_autocheckpoint=0")  # its checkpoints run in a thread: _inline_committed
            self._inline_connection = pooled
        return self._inline_connection

    def _inline_committed(self) -> None:
        """Count an inline commit; every ``INLINE_CHECKPOINT_EVERY``, checkpoint the WAL in a thread (a
        checkpoint syncs the WAL and the database file, which must not stall the event loop; the inline
        connection does not checkpoint on its own)."""
        self._inline_commits += 1
        if self._inline_commits < inline.INLINE_CHECKPOINT_EVERY or self._checkpointing:
            return
        self._inline_commits = 0
        self._checkpointing = True
        if self._checkpointer is None:
            self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="totpflow-checkpoint")
        self._checkpointer.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        """A PASSIVE checkpoint (it never waits for readers or writers); a failure leaves it to the next."""
        try:
            pooled = self.engine.raw_connection()
            try:
                raw = pooled.dbapi_connection
                assert raw is not None
                raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            finally:
                pooled.close()
        except self._dbapi_error:
            pass
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
        with self._inline_guard:
            if self._inline_connection is not None:
                # not back to the pool as it is (busy_timeout=0): closed, its pool slot reconnects
                if self._inline_connection.dbapi_connection is not None:
                    self._inline_connection.invalidate()
                self._inline_connection.close()
                self._inline_connection = None
        if self._checkpointer is not None:
            self._checkpointer.shutdown(wait=True)
            self._checkpointer = None
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
