"""What every group of queries shares: the transaction's connection and its dialect."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Insert, Table
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect


class Queries:
    """Queries inside one database transaction, on its connection."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    @property
    def dialect(self) -> str:
        return self._c.dialect.name

    def _insert(self, table: Table) -> Insert:
        if self._c.dialect.name == "postgresql":
            return pg_dialect.insert(table)
        return sqlite_dialect.insert(table)


def by_dialect(build: Any) -> dict[str, Any]:
    """A statement built once per dialect from that dialect's ``insert`` (for ``ON CONFLICT``)."""
    return {"postgresql": build(pg_dialect), "sqlite": build(sqlite_dialect)}
