"""SQLite files and durability: the database and its ``-wal``/``-shm`` files are readable by their owner only
(0600), whether ``open_store`` creates them or finds them more open, under the common umask 022; the
transactions that consume a TOTP step or a recovery code commit with ``synchronous=FULL``; temporary content
(statement journals above all) stays in memory, never in files outside the database's folder."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from totpflow.server.domain.models import Project
from totpflow.server.storage import open_store


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _modes(path: Path) -> dict[str, int]:
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    return {p.name: p.stat().st_mode & 0o777 for p in files if p.exists()}


def _write_something(url: str) -> None:
    store = open_store(url)
    try:
        with store.transaction() as tx:
            tx.insert_project(Project("project-test-files", "p", datetime.now(UTC)), b"h")
        names = _modes(Path(url.removeprefix("sqlite:///")))
        assert len(names) == 3, names  # the database, its WAL and its shared-memory index all exist now
        assert set(names.values()) == {0o600}, names
    finally:
        store.dispose()


@pytest.mark.usefixtures("umask_022")
def test_new_database_files_are_private(tmp_path: Path) -> None:
    _write_something(f"sqlite:///{tmp_path / 'new' / 'totpflow.db'}")


@pytest.mark.usefixtures("umask_022")
def test_existing_world_readable_files_are_narrowed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)  # as an earlier version left it: 0644, WAL files present
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE t (x)")
    connection.execute("INSERT INTO t VALUES (1)")
    connection.commit()
    assert set(_modes(path).values()) == {0o644}
    try:
        _write_something(f"sqlite:///{path}")
    finally:
        connection.close()


def test_durable_transactions_commit_with_synchronous_full(tmp_path: Path) -> None:
    """``transaction(durable=True)`` (consuming a TOTP step or a recovery code) runs with ``FULL``; every
    other transaction runs with ``NORMAL`` (the measured trade-off is in docs/reliability.md)."""
    store = open_store(f"sqlite:///{tmp_path / 'd.db'}")
    levels = []
    try:
        for durable in (False, True, True, False):
            with store.transaction(durable=durable) as tx:
                levels.append(tx.execute(text("PRAGMA synchronous")).scalar())
        store.durable_commits = False
        with store.transaction(durable=True) as tx:
            levels.append(tx.execute(text("PRAGMA synchronous")).scalar())
    finally:
        store.dispose()
    assert levels == [1, 2, 2, 1, 1]  # NORMAL, FULL, FULL, NORMAL; FULL turned off to measure its cost


def test_temporary_content_stays_in_memory(tmp_path: Path) -> None:
    """Every connection of the store, durable or not, keeps SQLite's temporary content in memory
    (``temp_store=MEMORY``): a statement journal that outgrows 64 KiB would otherwise spill into a new file
    under /var/tmp, holding pages of the database."""
    store = open_store(f"sqlite:///{tmp_path / 't.db'}")
    found = []
    try:
        for durable in (False, True):
            with store.transaction(durable=durable) as tx:
                found.append(tx.execute(text("PRAGMA temp_store")).scalar())
        with store.transaction(readonly=True) as tx:
            found.append(tx.execute(text("PRAGMA temp_store")).scalar())
    finally:
        store.dispose()
    assert found == [2, 2, 2]  # 2: MEMORY (0 would be the compile-time default, a file)


@pytest.mark.usefixtures("umask_022")
def test_the_key_file_and_the_writers_file_are_narrowed_and_a_new_folder_is_private(tmp_path: Path) -> None:
    """The master key file beside the database and the writers' queue file, found 0644, become 0600; a folder
    made for a new store is 0700."""
    from totpflow.server.crypto import resolve_master_key

    url = f"sqlite:///{tmp_path / 'new' / 'totpflow.db'}"
    resolve_master_key(url, {})  # makes the folder and the key file, as a first command does
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    _write_something(url)  # a write goes through the writers' queue, which makes its file
    key, writers = tmp_path / "new" / "totpflow.db.key", tmp_path / "new" / "totpflow.db-writers"
    assert writers.exists()
    for path in (key, writers):
        path.chmod(0o644)
    resolve_master_key(url, {})
    open_store(url).dispose()
    assert key.stat().st_mode & 0o777 == 0o600 and writers.stat().st_mode & 0o777 == 0o600
