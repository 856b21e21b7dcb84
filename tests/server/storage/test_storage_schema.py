"""Migrations produce exactly the declared schema, run idempotently, and the backend settings are applied."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from totpflow.server import errors
from totpflow.server.dbfile import default_database_url
from totpflow.server.storage import Store, migrate, open_store
from totpflow.server.storage.schema import metadata


def test_migrations_match_the_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_reopening_migrates_nothing(database_url: str) -> None:
    for _ in range(2):
        store = open_store(database_url)
        with store.engine.connect() as connection:
            assert (
                connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
                == migrate.HEAD_REVISION
            )
        store.dispose()


def test_head_revision_is_alembics_only_head() -> None:
    assert ScriptDirectory.from_config(migrate.alembic_config()).get_heads() == [migrate.HEAD_REVISION]


def test_a_store_at_head_opens_without_alembic(database_url: str) -> None:
    """A fresh interpreter opening a store whose schema is current imports no Alembic; one whose schema is
    behind migrates it (and needs Alembic)."""
    open_store(database_url).dispose()  # at head now
    probe = (
        "import sys; from totpflow.server.storage import open_store\n"
        f"open_store({database_url!r}).dispose()\n"
        "print('alembic' in sys.modules)"
    )
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0, answer.stderr[-2000:]
    assert answer.stdout.strip() == "False"


def test_a_store_behind_the_head_is_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = open_store(url, migrate=False)
    migrate.upgrade(store.engine, "0002")
    assert not migrate.at_head(store.engine)
    store.dispose()
    store = open_store(url)
    assert migrate.at_head(store.engine)
    with store.engine.connect() as connection:
        assert (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == migrate.HEAD_REVISION
        )
    store.dispose()


def test_known_revisions_are_alembics() -> None:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert migrate.known_revisions() == {revision.revision for revision in script.walk_revisions()}


def test_a_store_a_newer_release_migrated_is_refused_by_name(database_url: str) -> None:
    """Never Alembic's "can't locate revision": the operator learns a newer release wrote the schema, and the
    store is left as it was."""
    open_store(database_url).dispose()
    store = open_store(database_url, migrate=False)
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9001'"))
    try:
        newest = rf"revision 9001.*newest is {migrate.HEAD_REVISION}"
        with pytest.raises(errors.StoreUnavailable, match=newest):
            open_store(database_url)
        with store.engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "9001"
    finally:
        with store.engine.begin() as connection:
            head = {"head": migrate.HEAD_REVISION}
            connection.execute(text("UPDATE alembic_version SET version_num = :head"), head)
        store.dispose()


def test_sqlite_pragmas(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
    store.dispose()


def test_default_location_follows_totpflow_home(tmp_path: Path, monkeypatch: object) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.setenv("TOTPFLOW_HOME", str(tmp_path))
    assert default_database_url() == f"sqlite:///{tmp_path / 'totpflow.db'}"
    monkeypatch.delenv("TOTPFLOW_HOME")
    assert default_database_url().endswith("/.local/share/totpflow/totpflow.db")
