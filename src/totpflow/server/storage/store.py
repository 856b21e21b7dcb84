"""The store: one SQLAlchemy Core implementation for SQLite and PostgreSQL.

``Store.transaction()`` yields a ``Tx`` whose methods are the queries services need, grouped by concept in
the modules it composes (``projects``, ``users``, ``totps``, ``sessions``, ``counters``, ``admin``); services
see them through ``totpflow.server.storage.protocol``. Every method takes the calling project's id and
filters on it, so one project never reads or changes another's rows. Invariants that must hold across
processes are single statements: a conditional UPDATE whose row count decides (TOTP replay, recovery code
use, failure counting and locking) or a constraint (unique email, one live TOTP per user).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from sqlalchemy import Engine

from totpflow.server.storage.admin import AdminQueries
from totpflow.server.storage.counters import CounterQueries
from totpflow.server.storage.projects import ProjectQueries
from totpflow.server.storage.records import Hit, NewUser, UserChanges
from totpflow.server.storage.sessions import SessionQueries
from totpflow.server.storage.totps import TotpQueries
from totpflow.server.storage.users import UserQueries

__all__ = ["NewUser", "Store", "Tx", "UserChanges"]

COUNTER_PRUNE_EVERY_SECONDS = 60


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
        TOTP step or a recovery code, whose loss in a power cut would allow one replay).
        """
        engine = self.engine
        if durable and self.durable_commits and self.durable_engine is not None:
            engine = self.durable_engine
        with nullcontext() if readonly else self._write_lock, engine.connect() as connection:
            if readonly:
                connection.execution_options(totpflow_readonly=True)
            with connection.begin():
                yield Tx(connection)

    def dispose(self) -> None:
        for engine in self.engines:
            engine.dispose()

    def count_hits(self, hits: Sequence[Hit], now_epoch: float) -> list[int]:
        """Count one request in each rate-limit counter, in a transaction of its own; the new counts, in
        order. Ended windows are deleted by whichever process first finds, at most once a minute, that it is
        its turn: one indexed range delete."""
        with self.transaction() as tx:
            counts = tx.count_hits(hits)
            if now_epoch >= self.next_counter_prune:
                self.next_counter_prune = now_epoch + COUNTER_PRUNE_EVERY_SECONDS
                tx.prune_counters(int(now_epoch))
        return counts
