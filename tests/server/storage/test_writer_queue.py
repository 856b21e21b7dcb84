"""The writers' queue of a SQLite database (``storage.writer_queue``): a write transaction of any totpflow
process waits while another process holds the queue and goes on once it lets go; on the event loop the call
is suspended meanwhile. A wait is bounded, a cancelled wait leaves the queue free, and a queue that cannot
open its file lets writers through. The other process is a real one, holding the queue's flock."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from loop_ticker import kept_running, with_ticker
from sqlalchemy import text

from totpflow.server.storage import Store, open_store
from totpflow.server.storage.store import LOOP_CHECKPOINT_EVERY
from totpflow.server.storage.writer_queue import queue_path

STILL_WAITING = 0.3  # seconds after which a writer that honours the queue is still waiting

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""
PROBE = "import fcntl, os, sys; fcntl.flock(os.open(sys.argv[1], os.O_RDWR), fcntl.LOCK_EX | fcntl.LOCK_NB)"


class Holder:
    """Another process holding the queue of ``database`` until :meth:`release`."""

    def __init__(self, database: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(queue_path(database))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "held"

    def release(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("\n")
            self.process.stdin.flush()
        self.process.wait(10)


def mark(store: Store, n: int) -> None:
    with store.transaction() as tx:
        tx.execute(text("INSERT INTO marks VALUES (:n)"), {"n": n})


def marks(store: Store) -> list[int]:
    with store.transaction(readonly=True) as tx:
        return [row[0] for row in tx.execute(text("SELECT n FROM marks ORDER BY n"))]


def queue_is_free(database: Path, attempts: int = 1) -> bool:
    """Whether another process can take the queue (in one of ``attempts`` tries, 20 ms apart)."""
    for attempt in range(attempts):
        if attempt:
            time.sleep(0.02)
        if subprocess.run([sys.executable, "-c", PROBE, str(queue_path(database))]).returncode == 0:
            return True
    return False


def test_the_queue_is_a_private_file_beside_the_database(sqlite_store: Store, tmp_path: Path) -> None:
    mark(sqlite_store, 1)
    assert os.stat(tmp_path / "store.db-writers").st_mode & 0o777 == 0o600
    assert queue_is_free(tmp_path / "store.db")  # held only during a write transaction


def test_a_writer_waits_while_another_process_holds_the_queue(sqlite_store: Store, tmp_path: Path) -> None:
    holder = Holder(tmp_path / "store.db")
    writer = threading.Thread(target=mark, args=(sqlite_store, 1))
    try:
        writer.start()
        writer.join(STILL_WAITING)
        assert writer.is_alive()
        assert marks(sqlite_store) == []  # reads never queue
    finally:
        holder.release()
    writer.join(10)
    assert marks(sqlite_store) == [1]
    assert queue_is_free(tmp_path / "store.db")


def test_a_call_on_the_loop_is_suspended_while_another_process_holds_the_queue(
    sqlite_store: Store, tmp_path: Path
) -> None:
    holder = Holder(tmp_path / "store.db")
    releaser = threading.Timer(STILL_WAITING, holder.release)
    releaser.start()
    try:
        _, ticks, took, _ = with_ticker(lambda: sqlite_store.run_on_loop(lambda: mark(sqlite_store, 1)))
    finally:
        releaser.join(10)
        holder.release()
    assert took >= STILL_WAITING * 0.5
    assert kept_running(ticks, STILL_WAITING * 0.5)
    assert marks(sqlite_store) == [1]
    assert queue_is_free(tmp_path / "store.db")


@pytest.mark.parametrize("on_loop", [False, True], ids=["thread", "loop"])
def test_a_wait_that_runs_out_goes_on_to_sqlites_lock(
    sqlite_store: Store, tmp_path: Path, on_loop: bool
) -> None:
    """The holder never lets go, but holds no transaction: after the queue's timeout the write is made."""
    assert sqlite_store.writers is not None
    sqlite_store.writers.timeout = 0.2
    holder = Holder(tmp_path / "store.db")
    try:
        if on_loop:
            with_ticker(lambda: sqlite_store.run_on_loop(lambda: mark(sqlite_store, 1)))
        else:
            mark(sqlite_store, 1)
        assert marks(sqlite_store) == [1]
    finally:
        holder.release()
    assert queue_is_free(tmp_path / "store.db", attempts=50)  # the helper that got the queue late let it go


def test_a_call_cancelled_while_it_waits_leaves_the_queue_free(sqlite_store: Store, tmp_path: Path) -> None:
    holder = Holder(tmp_path / "store.db")

    async def work() -> None:
        call = asyncio.create_task(sqlite_store.run_on_loop(lambda: mark(sqlite_store, 1)))
        await asyncio.sleep(STILL_WAITING)
        assert sqlite_store._lock_held_for_loop is not None and not call.done()  # waiting in the queue
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call

    try:
        with_ticker(work)
    finally:
        holder.release()
    mark(sqlite_store, 2)  # the next writer is not held up by the cancelled one
    assert marks(sqlite_store) == [2]
    assert queue_is_free(tmp_path / "store.db", attempts=50)  # the wait's helper let go of it


def test_a_queue_that_cannot_open_its_file_lets_writers_through(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "store.db-writers").mkdir()  # not a file that can be opened for writing
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with caplog.at_level(logging.WARNING, logger="totpflow.server"):
            with store.transaction() as tx:
                tx.execute(text("CREATE TABLE marks (n INTEGER)"))
            mark(store, 1)
        assert marks(store) == [1]
        assert [r for r in caplog.records if "store.db-writers" in r.getMessage()]
    finally:
        store.dispose()


WRITER = """
import asyncio, sys
from sqlalchemy import text
from totpflow.server.storage import open_store
store = open_store("sqlite:///" + sys.argv[1])
store.wal_restart_frames = int(sys.argv[2])

def mark():
    with store.transaction() as tx:
        tx.execute(text("INSERT INTO marks VALUES (2)"))

async def main():
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(int(sys.argv[3])):
        await store.run_on_loop(mark)

asyncio.run(main())
store.dispose()
"""


def test_the_wal_stays_bounded_while_two_processes_keep_writing(sqlite_store: Store, tmp_path: Path) -> None:
    """Two processes commit on their loops at once, 1,200 times each. Each one's checkpoint restarts the WAL
    from within the queue, so the other's writers wait for it: the WAL stayed below 1.4 MB in every run
    (10 MB when it is never restarted)."""
    restart_frames = 50
    sqlite_store.wal_restart_frames = restart_frames
    commits = 12 * LOOP_CHECKPOINT_EVERY
    database = tmp_path / "store.db"
    other = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(database), str(restart_frames), str(commits)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert other.stdout is not None and other.stdin is not None
    assert other.stdout.readline().strip() == "ready"

    async def work() -> None:
        assert other.stdin is not None
        other.stdin.write("go\n")
        other.stdin.flush()
        for _ in range(commits):
            await sqlite_store.run_on_loop(lambda: mark(sqlite_store, 1))

    with_ticker(work)
    _, errors = other.communicate(timeout=120)
    assert other.returncode == 0, errors[-2000:]
    wal_bytes = (tmp_path / "store.db-wal").stat().st_size  # its largest extent so far
    frame = 4096 + 24
    assert wal_bytes < 6 * LOOP_CHECKPOINT_EVERY * frame  # 2.5 MB
    assert len(marks(sqlite_store)) == 2 * commits


GIVES_UP = """
import sys
from sqlalchemy import text
from totpflow.server.storage import open_store
store = open_store("sqlite:///" + sys.argv[1])
store.writers.timeout = 0.2
with store.transaction() as tx:
    tx.execute(text("INSERT INTO marks VALUES (3)"))
store.dispose()
print("written", flush=True)
"""


def test_a_process_exits_while_its_given_up_wait_goes_on(sqlite_store: Store, tmp_path: Path) -> None:
    """Another process holds the queue and never lets go. A process whose writer gave up waiting (and wrote
    through SQLite's lock) still exits at once: its helper thread, still waiting, does not hold it up."""
    holder = Holder(tmp_path / "store.db")
    try:
        writer = subprocess.run(
            [sys.executable, "-c", GIVES_UP, str(tmp_path / "store.db")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert writer.returncode == 0, writer.stderr[-2000:]
        assert writer.stdout.split() == ["written"]
        assert marks(sqlite_store) == [3]
    finally:
        holder.release()
