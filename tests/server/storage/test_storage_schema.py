"""Migrations produce exactly the declared schema, run idempotently, and the backend settings are applied."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from totpflow.server.storage import Store, default_database_url, open_store
from totpflow.server.storage.schema import metadata


def test_migrations_match_the_schema(store: Store) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), metadata)
    assert diff == []


def test_reopening_migrates_nothing(database_url: str) -> None:
    for _ in range(2):
        store = open_store(database_url)
        with store.engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
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
