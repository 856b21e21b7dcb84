"""What every group of queries shares: the transaction's DB-API connection, the per-request SQL runner, and
SQLAlchemy Core for the queries that are not on a request's hot path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, Insert, Table
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.pool import PoolProxiedConnection

from totpflow.server.storage.sql import Backend, Sql


class _JoinedConnection(Connection):
    """A SQLAlchemy connection over a transaction the store began and ends itself. It always counts as inside
    a transaction, so a failing statement leaves that transaction to the store: SQLAlchemy rolls back on an
    error only outside a transaction, and on SQLite (``isolation_level=None``) every later statement of the
    block would then commit on its own, half of the block's writes surviving its rollback."""

    def in_transaction(self) -> bool:
        return True


class Queries:
    """Queries inside one database transaction, which the store began on ``pooled`` and ends itself."""

    def __init__(
        self,
        engine: Engine,
        pooled: PoolProxiedConnection,
        backend: Backend,
        observe: Callable[[str], None] | None = None,
    ) -> None:
        self._engine = engine
        self._pooled = pooled
        self._raw: Any = pooled.dbapi_connection
        self._b = backend
        self._pg = backend.dialect == "postgresql"
        self._integrity_error: type[Exception] = engine.dialect.loaded_dbapi.IntegrityError
        self._observe = observe
        self._core: Connection | None = None

    @property
    def dialect(self) -> str:
        return self._b.dialect

    def _run(self, sql: Sql, params: dict[str, Any] | None = None) -> Any:
        """Execute a per-request query on the DB-API connection; its cursor."""
        text = sql.postgresql if self._pg else sql.sqlite
        if self._observe is not None:
            self._observe(text)
        return self._raw.execute(text) if params is None else self._raw.execute(text, params)

    @property
    def _c(self) -> Connection:
        """A SQLAlchemy connection over the same DB-API connection and transaction, for Core queries. It never
        begins, commits or closes anything: the store does."""
        if self._core is None:
            self._core = _JoinedConnection(self._engine, connection=self._pooled, _allow_autobegin=False)
        return self._core

    def _insert(self, table: Table) -> Insert:
        if self._b.dialect == "postgresql":
            return pg_dialect.insert(table)
        return sqlite_dialect.insert(table)
