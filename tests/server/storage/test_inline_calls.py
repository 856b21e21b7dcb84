"""``Store.run_inline`` (``storage.inline``): a call runs on the calling thread when its first write
transaction can begin at once and is not durable; otherwise it stops with ``WouldWait`` before anything was
written, and quickly, whoever holds the lock: another thread of the process, or another connection (as
another process would). Real SQLite files; PostgreSQL never runs a call inline."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from totpflow.server.storage import Store, open_store
from totpflow.server.storage.inline import INLINE_LOCK_WAIT
from totpflow.server.storage.protocol import WouldWait


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'inline.db'}")
    with store.transaction() as tx:
        tx.execute(text("CREATE TABLE marks (thread INTEGER)"))
    yield store
    store.dispose()


def mark(store: Store, *, durable: bool = False) -> int:
    with store.transaction(durable=durable) as tx:
        tx.execute(text("INSERT INTO marks VALUES (:t)"), {"t": threading.get_ident()})
    return threading.get_ident()


def marks(store: Store) -> list[int]:
    with store.transaction(readonly=True) as tx:
        return [row[0] for row in tx.execute(text("SELECT thread FROM marks"))]


def test_a_call_whose_write_can_begin_runs_on_the_calling_thread(sqlite_store: Store) -> None:
    assert sqlite_store.run_inline(lambda: mark(sqlite_store)) == threading.get_ident()
    assert marks(sqlite_store) == [threading.get_ident()]
    # and again: the inline connection is kept
    sqlite_store.run_inline(lambda: mark(sqlite_store))
    assert len(marks(sqlite_store)) == 2


def test_a_durable_first_write_is_not_run_inline(sqlite_store: Store) -> None:
    with pytest.raises(WouldWait):
        sqlite_store.run_inline(lambda: mark(sqlite_store, durable=True))
    assert marks(sqlite_store) == []


@pytest.mark.parametrize("durable", [False, True], ids=["write", "durable-write"])
def test_a_write_lock_held_by_another_thread_stops_the_call_quickly(
    sqlite_store: Store, durable: bool
) -> None:
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with sqlite_store.transaction(durable=durable) as tx:
            tx.execute(text("INSERT INTO marks VALUES (0)"))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    began = time.monotonic()
    try:
        with pytest.raises(WouldWait):
            sqlite_store.run_inline(lambda: mark(sqlite_store))
        assert time.monotonic() - began < INLINE_LOCK_WAIT + 0.5
    finally:
        release.set()
        holder.join()
    assert marks(sqlite_store) == [0]  # the holder's row only


def test_sqlites_lock_held_elsewhere_stops_the_call_at_once(sqlite_store: Store, tmp_path: Path) -> None:
    other = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        began = time.monotonic()
        with pytest.raises(WouldWait):
            sqlite_store.run_inline(lambda: mark(sqlite_store))
        assert time.monotonic() - began < 0.5  # the store's busy timeout is 30 s
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert marks(sqlite_store) == []
    sqlite_store.run_inline(lambda: mark(sqlite_store))  # the lock is free again
    assert len(marks(sqlite_store)) == 1


def test_reads_and_later_writes_of_an_inline_call_run_as_usual(sqlite_store: Store) -> None:
    def read_write_write() -> int:
        before = len(marks(sqlite_store))
        mark(sqlite_store)
        mark(sqlite_store)
        return before

    assert sqlite_store.run_inline(read_write_write) == 0
    assert len(marks(sqlite_store)) == 2


def test_an_error_inside_rolls_back_and_the_next_call_still_runs(sqlite_store: Store) -> None:
    def failing() -> None:
        mark(sqlite_store)
        raise RuntimeError("boom")

    def failing_in_transaction() -> None:
        with sqlite_store.transaction() as tx:
            tx.execute(text("INSERT INTO marks VALUES (1)"))
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError):
        sqlite_store.run_inline(failing_in_transaction)
    assert marks(sqlite_store) == []
    with pytest.raises(RuntimeError):
        sqlite_store.run_inline(failing)
    assert len(marks(sqlite_store)) == 1  # committed before the error
    sqlite_store.run_inline(lambda: mark(sqlite_store))
    assert len(marks(sqlite_store)) == 2


def test_one_inline_call_at_a_time(sqlite_store: Store) -> None:
    """A second caller (another event loop's thread) does not share the inline connection: WouldWait."""
    inner: list[type[BaseException]] = []

    def nested() -> None:
        try:
            sqlite_store.run_inline(lambda: mark(sqlite_store))
        except WouldWait as exc:
            inner.append(type(exc))

    sqlite_store.run_inline(nested)
    assert inner == [WouldWait]


@pytest.mark.postgres
def test_postgresql_never_runs_a_call_inline(pg_schema_url: str) -> None:
    store = open_store(pg_schema_url)
    try:
        with pytest.raises(WouldWait):
            store.run_inline(lambda: None)
    finally:
        store.dispose()


def test_a_first_write_rolled_back_leaves_the_next_one_inline(sqlite_store: Store) -> None:
    """Nothing was written, so the call can still stop with WouldWait (here: a durable write next)."""

    def rolled_back_then_durable() -> None:
        with pytest.raises(RuntimeError), sqlite_store.transaction() as tx:
            tx.execute(text("INSERT INTO marks VALUES (1)"))
            raise RuntimeError("rolled back")
        mark(sqlite_store, durable=True)

    with pytest.raises(WouldWait):
        sqlite_store.run_inline(rolled_back_then_durable)
    assert marks(sqlite_store) == []


def test_a_failed_commit_leaves_no_transaction_open(sqlite_store: Store) -> None:
    """A deferred foreign key fails at COMMIT, and SQLite then keeps the transaction (and its lock) open."""
    with sqlite_store.transaction() as tx:
        tx.execute(text("CREATE TABLE parents (id INTEGER PRIMARY KEY)"))
        tx.execute(
            text(
                "CREATE TABLE children (parent INTEGER REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )

    def orphan() -> None:
        with sqlite_store.transaction() as tx:
            tx.execute(text("INSERT INTO children VALUES (42)"))

    with pytest.raises(Exception, match="FOREIGN KEY"):
        sqlite_store.run_inline(orphan)
    done = threading.Event()

    def write_from_a_thread() -> None:
        mark(sqlite_store)
        done.set()

    writer = threading.Thread(target=write_from_a_thread)
    writer.start()
    writer.join(10)
    assert done.is_set()  # SQLite's lock was free (a transaction left open would hold it for 30 s)
    assert marks(sqlite_store) == [writer.ident]


def test_inline_commits_are_checkpointed_in_a_thread(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inline connection never checkpoints (that syncs files); every INLINE_CHECKPOINT_EVERY inline
    commits a thread does, and the WAL's frames reach the database file."""
    from totpflow.server.storage import inline

    ran: list[int] = []
    real = sqlite_store._checkpoint

    def spy() -> None:
        ran.append(threading.get_ident())
        real()

    monkeypatch.setattr(sqlite_store, "_checkpoint", spy)
    for _ in range(inline.INLINE_CHECKPOINT_EVERY):
        sqlite_store.run_inline(lambda: mark(sqlite_store))
    inline_connection = sqlite_store._inline_connection
    assert inline_connection is not None and inline_connection.dbapi_connection is not None
    assert inline_connection.dbapi_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    sqlite_store.dispose()  # waits for the checkpoint thread
    assert len(ran) == 1 and ran[0] != threading.get_ident()
    assert len(marks(sqlite_store)) == inline.INLINE_CHECKPOINT_EVERY


def test_dispose_does_not_pool_the_inline_connection_back(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the store letting the inline connection go and the engine closing its pool, a thread could
    check a pooled connection out: none of them may carry the inline settings (busy_timeout=0)."""
    sqlite_store.run_inline(lambda: mark(sqlite_store))
    engine = sqlite_store.engine
    real_dispose = engine.dispose
    timeouts: list[int] = []

    def dispose_checking_the_pool(*args: object, **kwargs: object) -> None:
        pool: Any = engine.pool
        pooled = [engine.raw_connection() for _ in range(pool.checkedin())]
        for connection in pooled:
            timeouts.append(connection.dbapi_connection.execute("PRAGMA busy_timeout").fetchone()[0])
            connection.close()
        real_dispose(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "dispose", dispose_checking_the_pool)
    sqlite_store.dispose()
    assert timeouts and set(timeouts) == {30_000}
