"""``Store.run_on_loop`` (``totpflow.server.suspend``): a call runs on the event loop's own thread, and where
one of its writes would wait — the process's write lock held by another thread, SQLite's lock held by
another connection (as another process would), the fsync of a durable COMMIT — the call is suspended and the
loop goes on running. Real SQLite files; a ticker coroutine on the same loop shows it is never blocked.
PostgreSQL never runs a call on the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from loop_ticker import kept_running, with_ticker
from sqlalchemy import event, text

from totpflow.server.storage import Store, open_store
from totpflow.server.storage.protocol import WouldWait
from totpflow.server.storage.store import LOOP_CHECKPOINT_EVERY

HOLD = 0.4  # seconds another thread or connection holds a lock


def mark(store: Store, *, durable: bool = False) -> int:
    with store.transaction(durable=durable) as tx:
        tx.execute(text("INSERT INTO marks VALUES (:t)"), {"t": threading.get_ident()})
    return threading.get_ident()


def marks(store: Store) -> list[int]:
    with store.transaction(readonly=True) as tx:
        return [row[0] for row in tx.execute(text("SELECT n FROM marks"))]


def occupy_helpers(store: Store) -> threading.Event:
    """Keep the store's helper threads busy until the returned event is set: a step handed to them waits."""
    busy = threading.Event()
    waits = store._waits()
    for _ in range(2):
        waits.submit(busy.wait, 5)
    return busy


async def holding_the_lock(store: Store) -> None:
    """Until a call of this loop holds the write lock. Its only wait after taking it is its BEGIN when
    SQLite's lock is held elsewhere, else its durable COMMIT: so, once this returns, it is suspended there."""
    while store._lock_held_for_loop is None:
        await asyncio.sleep(0.005)


def test_a_call_runs_on_the_loops_own_thread(sqlite_store: Store) -> None:
    ran_on, _, _, loop_thread = with_ticker(lambda: sqlite_store.run_on_loop(lambda: mark(sqlite_store)))
    assert ran_on == loop_thread
    assert marks(sqlite_store) == [loop_thread]


def test_a_durable_commit_is_made_in_a_helper_thread_under_full_sync(sqlite_store: Store) -> None:
    """The statements run on the loop; COMMIT, with its fsync, in another thread, on the connection switched
    to synchronous=FULL for it and back to NORMAL after."""
    traced: list[tuple[int, str]] = []

    @event.listens_for(sqlite_store.engine, "connect")
    def trace(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.set_trace_callback(lambda sql: traced.append((threading.get_ident(), sql)))

    sqlite_store.dispose()  # new connections, traced
    _, _, _, loop_thread = with_ticker(
        lambda: sqlite_store.run_on_loop(lambda: mark(sqlite_store, durable=True))
    )
    statements = [sql for _, sql in traced]
    full = statements.index("PRAGMA synchronous=FULL")
    commit = statements.index("COMMIT", full)
    assert "BEGIN IMMEDIATE" in statements[full:commit]
    assert statements[commit + 1 :].count("PRAGMA synchronous=NORMAL") == 1
    threads = {sql: thread for thread, sql in traced[full:]}
    assert threads["PRAGMA synchronous=FULL"] == loop_thread
    assert next(t for t, sql in traced[full:] if sql.startswith("INSERT")) == loop_thread
    assert traced[commit][0] != loop_thread
    assert marks(sqlite_store) == [loop_thread]


@pytest.mark.parametrize("durable", [False, True], ids=["write", "durable-write"])
def test_a_write_lock_held_by_another_thread_suspends_the_call(sqlite_store: Store, durable: bool) -> None:
    holding = threading.Event()

    def hold() -> None:
        with sqlite_store.transaction(durable=durable):
            holding.set()
            time.sleep(HOLD)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    _, ticks, took, loop_thread = with_ticker(lambda: sqlite_store.run_on_loop(lambda: mark(sqlite_store)))
    holder.join(5)
    assert took >= HOLD * 0.5  # it waited for the lock
    assert kept_running(ticks, HOLD * 0.5)  # and the loop kept running meanwhile
    assert marks(sqlite_store) == [loop_thread]


def test_sqlites_lock_held_by_another_connection_suspends_the_call(
    sqlite_store: Store, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    releaser = threading.Timer(HOLD, lambda: other.execute("ROLLBACK"))
    releaser.start()
    try:
        _, ticks, took, loop_thread = with_ticker(
            lambda: sqlite_store.run_on_loop(lambda: mark(sqlite_store, durable=True))
        )
    finally:
        releaser.join(5)
        other.close()
    assert took >= HOLD * 0.5
    assert kept_running(ticks, HOLD * 0.5)
    assert marks(sqlite_store) == [loop_thread]


def test_calls_of_one_loop_queue_for_the_write_lock_and_all_commit(sqlite_store: Store) -> None:
    """Writes of several calls of the loop wait for each other while one is suspended in its COMMIT."""

    async def many() -> list[int]:
        calls = [
            sqlite_store.run_on_loop(lambda n=n: mark(sqlite_store, durable=n % 2 == 0))  # type: ignore[misc]
            for n in range(12)
        ]
        return list(await asyncio.gather(*calls))

    threads, _, _, loop_thread = with_ticker(many)
    assert threads == [loop_thread] * 12
    assert marks(sqlite_store) == [loop_thread] * 12


def test_an_error_rolls_back_and_the_next_call_still_runs(sqlite_store: Store) -> None:
    def failing_in_transaction() -> None:
        with sqlite_store.transaction(durable=True) as tx:
            tx.execute(text("INSERT INTO marks VALUES (1)"))
            raise KeyError("boom")

    async def work() -> int:
        with pytest.raises(KeyError):
            await sqlite_store.run_on_loop(failing_in_transaction)
        return await sqlite_store.run_on_loop(lambda: mark(sqlite_store))

    ran_on, _, _, _ = with_ticker(work)
    assert marks(sqlite_store) == [ran_on]


def test_a_failed_commit_leaves_no_transaction_open(sqlite_store: Store) -> None:
    """A COMMIT refused by a deferred foreign key: the error reaches the caller, and the loop connection is
    outside any transaction for the next call."""
    with sqlite_store.transaction() as tx:
        tx.execute(text("CREATE TABLE parents (id INTEGER PRIMARY KEY)"))
        tx.execute(
            text(
                "CREATE TABLE children (parent INTEGER REFERENCES parents(id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )

    def orphan() -> None:
        with sqlite_store.transaction(durable=True) as tx:
            tx.execute(text("INSERT INTO children VALUES (42)"))

    async def work() -> None:
        with pytest.raises(Exception, match="FOREIGN KEY"):
            await sqlite_store.run_on_loop(orphan)

    with_ticker(work)
    writer = threading.Thread(target=mark, args=(sqlite_store,))
    writer.start()
    writer.join(10)
    assert marks(sqlite_store) == [writer.ident]  # SQLite's lock was free (an open transaction holds it 30 s)
    ran_on, _, _, _ = with_ticker(lambda: sqlite_store.run_on_loop(lambda: mark(sqlite_store)))
    assert marks(sqlite_store) == [writer.ident, ran_on]
    with sqlite_store.transaction(readonly=True) as tx:
        assert tx.execute(text("SELECT count(*) FROM children")).scalar() == 0


def test_a_call_cancelled_during_its_durable_commit_lets_the_commit_finish(sqlite_store: Store) -> None:
    """The helper threads are busy, so the COMMIT waits for one; the request is cancelled meanwhile. The
    COMMIT still runs to its end before the call sees the cancellation, the lock is let go, and the next call
    runs."""
    busy = occupy_helpers(sqlite_store)

    async def work() -> int:
        call = asyncio.create_task(sqlite_store.run_on_loop(lambda: mark(sqlite_store, durable=True)))
        await holding_the_lock(sqlite_store)  # suspended: its COMMIT waits for a helper thread
        assert not call.done()
        call.cancel()
        await asyncio.sleep(0.05)
        assert not call.done()  # the COMMIT cannot be abandoned
        busy.set()
        with pytest.raises(asyncio.CancelledError):
            await call
        return await sqlite_store.run_on_loop(lambda: mark(sqlite_store))

    ran_on, _, _, _ = with_ticker(work)
    assert marks(sqlite_store) == [ran_on, ran_on]  # the cancelled call's row was committed


def test_a_call_cancelled_while_its_begin_waits_leaves_no_transaction_open(
    sqlite_store: Store, tmp_path: Path
) -> None:
    """Another connection holds SQLite's lock, so a helper thread waits to begin the call's transaction; the
    request is cancelled meanwhile. Once that BEGIN succeeds the call sees the cancellation, and the
    transaction is rolled back: nothing written, and SQLite's lock free for a writer in another thread."""
    other = sqlite3.connect(tmp_path / "store.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")

    async def work() -> None:
        call = asyncio.create_task(sqlite_store.run_on_loop(lambda: mark(sqlite_store)))
        await holding_the_lock(sqlite_store)
        call.cancel()
        await asyncio.sleep(0.05)
        assert not call.done()  # the BEGIN cannot be abandoned
        other.execute("ROLLBACK")
        with pytest.raises(asyncio.CancelledError):
            await call

    try:
        with_ticker(work)
    finally:
        other.close()
    writer = threading.Thread(target=mark, args=(sqlite_store,))
    writer.start()
    writer.join(10)
    assert marks(sqlite_store) == [writer.ident]


def test_a_write_on_the_loop_thread_outside_a_call_does_not_deadlock(sqlite_store: Store) -> None:
    """While a call of the loop is suspended holding the write lock, a plain write transaction on the loop's
    thread could only wait forever (the holder resumes when the thread returns to the loop): it fails."""
    busy = occupy_helpers(sqlite_store)

    async def work() -> None:
        call = asyncio.create_task(sqlite_store.run_on_loop(lambda: mark(sqlite_store, durable=True)))
        await holding_the_lock(sqlite_store)
        with pytest.raises(RuntimeError, match="event loop"):
            mark(sqlite_store)
        busy.set()
        await call

    with_ticker(work)
    assert len(marks(sqlite_store)) == 1


def test_commits_on_the_loop_are_checkpointed_in_a_thread(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop connection never checkpoints (that syncs files); every LOOP_CHECKPOINT_EVERY commits a thread
    does, and the WAL's frames reach the database file."""
    ran: list[int] = []
    real = sqlite_store._checkpoint

    def spy() -> None:
        ran.append(threading.get_ident())
        real()

    monkeypatch.setattr(sqlite_store, "_checkpoint", spy)

    async def work() -> None:
        for _ in range(LOOP_CHECKPOINT_EVERY):
            await sqlite_store.run_on_loop(lambda: mark(sqlite_store))

    _, _, _, loop_thread = with_ticker(work)
    connection = sqlite_store._loop_connection
    assert connection is not None and connection.dbapi_connection is not None
    assert connection.dbapi_connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    sqlite_store.dispose()  # waits for the checkpoint thread
    assert len(ran) == 1 and ran[0] != loop_thread
    assert len(marks(sqlite_store)) == LOOP_CHECKPOINT_EVERY


def test_dispose_does_not_pool_the_loop_connection_back(
    sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the store letting the loop connection go and the engine closing its pool, a thread could check
    a pooled connection out: none of them may carry the loop connection's settings (busy_timeout=0)."""
    with_ticker(lambda: sqlite_store.run_on_loop(lambda: mark(sqlite_store)))
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
    assert timeouts and 0 not in timeouts


@pytest.mark.postgres
def test_postgresql_never_runs_a_call_on_the_loop(pg_schema_url: str) -> None:
    store = open_store(pg_schema_url)
    try:
        with pytest.raises(WouldWait):
            asyncio.run(store.run_on_loop(lambda: None))
    finally:
        store.dispose()


def test_the_wal_is_restarted_while_the_loop_keeps_writing(sqlite_store: Store, tmp_path: Path) -> None:
    """Commits on the loop go on while the checkpoint thread copies the WAL, so a PASSIVE checkpoint never
    finds it all copied and SQLite would never write it from its start again: the file, and the index every
    process maps into memory, grew with every commit. Once the WAL holds ``wal_restart_frames`` frames, the
    checkpoint restarts it, so it stays near the frames of ``LOOP_CHECKPOINT_EVERY`` commits."""
    sqlite_store.wal_restart_frames = 50
    commits = 8 * LOOP_CHECKPOINT_EVERY

    async def work() -> None:
        for _ in range(commits):
            await sqlite_store.run_on_loop(lambda: mark(sqlite_store))

    with_ticker(work)
    wal_bytes = (tmp_path / "store.db-wal").stat().st_size  # its largest extent so far (closing removes it)
    frame = 4096 + 24  # a page and its frame header
    assert wal_bytes < 3 * LOOP_CHECKPOINT_EVERY * frame
    assert len(marks(sqlite_store)) == commits
