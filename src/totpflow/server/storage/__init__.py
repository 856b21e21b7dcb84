"""Storage of the server: SQLite (the zero-configuration default) or PostgreSQL behind one ``Store``.

``open_store(url)`` creates the engine, applies the backend's connection settings and runs the migrations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event

from totpflow.server.dbfile import narrow_to_owner, sqlite_path
from totpflow.server.storage.migrate import upgrade
from totpflow.server.storage.protocol import Storage, Transaction
from totpflow.server.storage.records import (
    NewUser,
    ProjectRow,
    ProjectState,
    RecoveryCodeRow,
    SearchFilter,
    SessionRow,
    SigningKeyRow,
    TotpRow,
    UserChanges,
)
from totpflow.server.storage.store import Store, Tx
from totpflow.server.storage.writer_queue import WriterQueue

if TYPE_CHECKING:
    from totpflow.server.crypto import Cipher

__all__ = [
    "NewUser",
    "ProjectRow",
    "ProjectState",
    "RecoveryCodeRow",
    "SearchFilter",
    "SessionRow",
    "SigningKeyRow",
    "Storage",
    "Store",
    "TotpRow",
    "Transaction",
    "Tx",
    "UserChanges",
    "open_store",
    "postgres_is_keyed",
]

BUSY_TIMEOUT_MS = 30_000


PRIVATE_FILE_MODE = 0o600
_SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal", "-writers")


def make_sqlite_files_private(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite opens it, and narrow an existing database and
    its ``-wal``/``-shm`` (``-journal``, ``-writers``) files to 0600. SQLite creates its side files with the
    database file's mode, so they stay private too; a new folder is created 0700."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, PRIVATE_FILE_MODE))
    for suffix in _SQLITE_SIDE_FILES:
        narrow_to_owner(path.with_name(path.name + suffix))


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _sqlite_engine(url: str, synchronous: str, *, pool_size: int, max_overflow: int) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        pool_size=pool_size,
        max_overflow=max_overflow,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's begin event below emits BEGIN itself
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Statement journals and other temporary content stay in memory. On a file, a statement that changes
        # more than 64 KiB of pages (the ten recovery codes of a new TOTP, once the indexes have grown) spills
        # its journal into a new file under /var/tmp, created, unlinked and written on every such statement:
        # 10 % of an enrollment's server CPU, and pages of the database outside its own private folder
        # (BENCHMARKS.md, "SQLite's statement journals in memory").
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()
        # SQLite's own lower() changes ASCII letters only; the fuzzy search filters compare lower(column) with
        # Python's lower() of the query, so the column is lowered the same way (no index uses lower()).
        dbapi_connection.create_function("lower", 1, _lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        readonly = connection.get_execution_options().get("totpflow_readonly", False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


PG_CONNECT_TIMEOUT = 10  # seconds, libpq's connect_timeout for PostgreSQL connections


def _postgres_engine(url: str, **options: Any) -> Engine:
    """An engine on the PostgreSQL database of ``url`` through psycopg 3. A database that accepts TCP but
    never answers must not hold a request (or /readyz) forever: libpq's connect_timeout bounds each new
    connection, unless the URL sets its own."""
    driver_url = "postgresql+psycopg://" + url.split("://", 1)[1]
    connect_args = {} if "connect_timeout=" in url else {"connect_timeout": PG_CONNECT_TIMEOUT}
    return create_engine(driver_url, connect_args=connect_args, **options)


def postgres_is_keyed(url: str) -> bool:
    """Whether the PostgreSQL database of ``url`` already holds data under some master key: the store's
    master-key check or a project (whose secret's hash, signing keys and users' secrets are keyed under it).
    Read only, on one connection of its own, before a new key file is made for it
    (``crypto.resolve_master_key``); a schema not yet made or migrated holds none. ``StoreUnavailable``
    (what failed to connect, where and why) when the database cannot be asked: then no one can say that a
    new key would not be refused."""
    from sqlalchemy import exists, func, select
    from sqlalchemy.pool import NullPool

    from totpflow.server.errors import StoreUnavailable
    from totpflow.server.storage.schema import master_key_check, projects
    from totpflow.server.storage.unreachable import describe

    try:
        engine = _postgres_engine(url, poolclass=NullPool)
        try:
            with engine.connect() as connection:
                for table in (master_key_check, projects):
                    # to_regclass finds the table as the store's statements do, through the search_path
                    if connection.execute(select(func.to_regclass(table.name))).scalar() is None:
                        continue
                    if connection.execute(select(exists().select_from(table))).scalar():
                        return True
                return False
        finally:
            engine.dispose()
    except Exception as exc:  # the driver's own message may quote the connection string
        raise StoreUnavailable(describe(url, exc)) from None


def open_store(url: str, *, migrate: bool = True, cipher: Cipher | None = None) -> Store:
    """Open ``sqlite:////abs/path.db`` or ``postgresql://…`` and bring its schema up to date (``cipher``,
    under the master key, for the migrations that re-encrypt stored secrets: ``migrate.upgrade``).

    SQLite: files readable by their owner only (:func:`make_sqlite_files_private`), WAL journal (readers never
    block the writer), ``synchronous=NORMAL`` (durable at checkpoints, safe with WAL) except for durable
    transactions (``Store.transaction(durable=True)``: ``FULL``, so a consumed TOTP step or recovery code
    survives a power loss; docs/reliability.md has the measured cost), a 30 s ``busy_timeout``, foreign
    keys on, and the writers of every process queued on the database's ``-writers`` file
    (``storage.writer_queue``). PostgreSQL: the psycopg 3 driver and a pool.
    """
    writers = None
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            make_sqlite_files_private(path)
            writers = WriterQueue(path, timeout=BUSY_TIMEOUT_MS / 1000)
        engine = _sqlite_engine(url, "NORMAL", pool_size=8, max_overflow=32)
        # The durable transactions have connections of their own, set to FULL once when they connect.
        durable_engine: Engine | None = _sqlite_engine(url, "FULL", pool_size=2, max_overflow=16)
    elif url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        # pool_pre_ping stays: its round trip per checkout measured within noise (~3%) of an enrollment
        # flow on loopback, where commits' WAL flushes dominate; without it a restarted or failed-over server
        # fails the next request on each pooled connection, and a transaction block cannot be replayed.
        engine = _postgres_engine(url, pool_size=10, max_overflow=30, pool_pre_ping=True)
        durable_engine = None  # every commit waits for the WAL flush (synchronous_commit=on)
    else:
        raise ValueError("database URL must start with sqlite:/// or postgresql://")
    if migrate:
        upgrade(engine, cipher=cipher)
    return Store(engine, durable_engine, writers=writers)
