"""Fixtures shared by the storage tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from totpflow.server.storage import Store, open_store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    """A store on a fresh SQLite file, ``tmp_path / "store.db"``, with one table to write rows into:
    ``marks (n INTEGER)``."""
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with store.transaction() as tx:
        tx.execute(text("CREATE TABLE marks (n INTEGER)"))
    yield store
    store.dispose()
