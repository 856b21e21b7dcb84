"""Shared fixtures of the server tests: a database per test on each backend, a frozen clock, a cipher, and the
services' ``Deps`` wired from them. PostgreSQL runs only when ``TOTPFLOW_TEST_DATABASE_URL`` is set; each test
gets its own schema (through ``search_path``), dropped afterwards, so parallel runs never collide."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from frozen_clock import FrozenClock

from totpflow.server import services
from totpflow.server.crypto import Cipher
from totpflow.server.domain.models import Project
from totpflow.server.storage import Store, open_store

PG_ENV = "TOTPFLOW_TEST_DATABASE_URL"
DATA = Path(__file__).parent / "data"


def postgres_base_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    return url


def with_search_path(url: str, schema: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture
def pg_schema_url() -> Iterator[str]:
    """A fresh PostgreSQL schema, as a URL whose connections use it."""
    import psycopg

    base = postgres_base_url()
    schema = f"totpflow_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield with_search_path(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'totpflow.db'}"
    url: str = request.getfixturevalue("pg_schema_url")
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = open_store(database_url)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    # 2026-01-01T00:00:10Z: ten seconds into a 30 s TOTP step, so ±1-step tests never straddle a boundary.
    return FrozenClock(datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC))


@pytest.fixture
def master_key() -> bytes:
    return secrets.token_bytes(32)


@pytest.fixture
def cipher(master_key: bytes) -> Cipher:
    return Cipher(master_key)


@pytest.fixture
def deps(store: Store, clock: FrozenClock, cipher: Cipher) -> services.Deps:
    return services.Deps(store=store, clock=clock, cipher=cipher)


@pytest.fixture
def project_and_secret(deps: services.Deps) -> tuple[Project, str]:
    return services.create_project(deps, name="Acme Test")


@pytest.fixture
def project(project_and_secret: tuple[Project, str]) -> Project:
    return project_and_secret[0]
