"""Per-request queries as plain SQL on the DB-API connection, written once for both backends.

A query is written with ``:name`` parameters in SQL that SQLite and PostgreSQL both accept; :class:`Sql`
renders it for the connection's driver (sqlite3 takes ``:name`` as it is, psycopg ``%(name)s``). Both
drivers cache what they prepare: sqlite3 keeps the prepared statements of each connection (by query text),
psycopg prepares a query on the server once a connection has run it a few times. No SQLAlchemy statement is
built, compiled or wrapped on these paths: that machinery cost more per query than SQLite's own work.

Values cross in the stored form that the SQLAlchemy column types (``schema.py``) give them, so rows written
here and rows written by Core are the same: :class:`Backend` converts timestamps (``types.UtcDateTime``: naive
UTC; on SQLite the text ``YYYY-MM-DD HH:MM:SS.ffffff``, which sorts and compares chronologically) and JSON
(text on SQLite, ``json`` on PostgreSQL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

_PARAMETER: Final = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


class Sql:
    """A query with ``:name`` parameters, rendered for each driver once."""

    __slots__ = ("postgresql", "sqlite")

    def __init__(self, text: str) -> None:
        self.sqlite = " ".join(text.split())
        self.postgresql = _PARAMETER.sub(r"%(\1)s", self.sqlite.replace("%", "%%"))

    def text(self, dialect: str) -> str:
        return self.postgresql if dialect == "postgresql" else self.sqlite


def _sqlite_timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_read_timestamp(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


def _pg_timestamp(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None)


def _pg_read_timestamp(value: datetime | None) -> datetime | None:
    return None if value is None else value.replace(tzinfo=UTC)


def _sqlite_read_json(value: str | None) -> Any:
    return None if value is None else json.loads(value)


def _pg_read_json(value: Any) -> Any:
    return value


class Backend:
    """The driver-side form of stored values for one dialect."""

    __slots__ = ("dialect", "json", "read_json", "read_ts", "ts")

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.ts: Callable[[datetime], Any]
        self.read_ts: Callable[[Any], datetime | None]
        self.json: Callable[[Any], Any]
        self.read_json: Callable[[Any], Any]
        if dialect == "postgresql":
            from psycopg.types.json import Json

            self.ts, self.read_ts = _pg_timestamp, _pg_read_timestamp
            self.json, self.read_json = Json, _pg_read_json
        else:
            self.ts, self.read_ts = _sqlite_timestamp, _sqlite_read_timestamp
            self.json, self.read_json = json.dumps, _sqlite_read_json

    def opt_ts(self, value: datetime | None) -> Any:
        return None if value is None else self.ts(value)
