"""Fixtures and helpers starting a real ``totpflow serve`` process on a free loopback port, on SQLite and on
PostgreSQL. Shared by ``tests/server/http`` and ``tests/server/sdk`` (importable from both).

``backend`` is parametrised over both backends; the PostgreSQL run needs ``TOTPFLOW_TEST_DATABASE_URL``
and gets a schema of its own (selected through libpq's ``options=-csearch_path=…``) that is dropped
afterwards, so parallel runs never see each other's tables.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import ssl
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pyotp
import pytest

from totpflow.testing import StytchServer, run_server

PG_ENV = "TOTPFLOW_TEST_DATABASE_URL"


@contextlib.contextmanager
def postgres_schema_url() -> Iterator[str]:
    """A URL of the test database whose search_path is a fresh schema; the schema is dropped on exit."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL variant: set {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    import psycopg

    schema = f"totpflow_http_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class Backend:
    """A running server, the name of its store and the environment it was started with (beyond os.environ)."""

    name: str
    server: StytchServer
    env: dict[str, str]


@contextlib.contextmanager
def start(
    backend: str, directory: Path, env: dict[str, str] | None = None, *, workers: int = 1
) -> Iterator[Backend]:
    extra = dict(env or {})
    if backend == "sqlite":
        with run_server(directory, env=extra, workers=workers) as server:
            yield Backend(backend, server, extra)
        return
    with postgres_schema_url() as url:
        extra.setdefault("TOTPFLOW_MASTER_KEY", master_key())
        with run_server(directory, database_url=url, env=extra, workers=workers) as server:
            yield Backend(backend, server, extra)


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """One server per test module and backend (starting a process per test would dominate the run time)."""
    with start(request.param, tmp_path_factory.mktemp(request.param)) as running:
        yield running


def create_project(backend: Backend) -> tuple[str, str]:
    """A second project in the same database, made with ``totpflow project create``."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "totpflow",
            "project",
            "create",
            "--database-url",
            backend.server.database_url,
        ],
        env={**os.environ, **backend.env},
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    created = json.loads(out.stdout)
    return created["project_id"], created["secret"]


# httpx builds a TLS context (reading the CA bundle) for every new client, about 50 ms: most of the time of
# a test that sends one request. Clients of the loopback servers speak plain HTTP, so they share one.
_TLS = ssl.create_default_context()


def loopback_client(base_url: str, **options: Any) -> httpx.Client:
    """An httpx client of a server on loopback (a new client: a new connection)."""
    return httpx.Client(base_url=base_url, verify=_TLS, **options)


def basic(project_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{project_id}:{secret}".encode()).decode()


def enroll(backend: Backend, email: str) -> dict[str, str]:
    """A user with a TOTP and a 60-minute session, made over HTTP: the ids and token a test can aim at."""
    server = backend.server
    auth = {"Authorization": basic(server.project_id, server.secret)}
    with loopback_client(server.base_url, headers=auth, timeout=30) as client:
        user = client.post("/v1/users", json={"email": email}).json()
        totp = client.post("/v1/totps", json={"user_id": user["user_id"]}).json()
        code = pyotp.TOTP(totp["secret"]).now()
        body = {"user_id": user["user_id"], "totp_code": code, "session_duration_minutes": 60}
        session = client.post("/v1/totps/authenticate", json=body).json()
        assert session["session_token"], session
    return {
        "email": email,
        "user_id": user["user_id"],
        "totp_id": totp["totp_id"],
        "session_id": session["session"]["session_id"],
        "session_token": session["session_token"],
        "project_id": server.project_id,
    }


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StytchServer]:
    """A SQLite-backed server, for tests that need a server but not every backend."""
    with start("sqlite", tmp_path_factory.mktemp("sqlite")) as running:
        yield running.server
