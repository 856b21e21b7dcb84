"""``GET /healthz`` and ``GET /readyz``: no credentials; readiness follows the database and its schema."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from serverkit import master_key, postgres_schema_url
from tcp_proxy import TcpProxy, tcp_proxy

from totpflow.testing import StytchServer, run_server


def readiness(base_url: str) -> tuple[int, dict[str, str]]:
    response = httpx.get(base_url + "/readyz", timeout=30)
    return response.status_code, response.json()


@contextlib.contextmanager
def proxied_server(tmp_path: Path) -> Iterator[tuple[StytchServer, TcpProxy]]:
    """A server whose PostgreSQL connections go through a proxy the test controls (the shared database keeps
    running whatever the proxy does)."""
    with postgres_schema_url() as url:
        parts = urlsplit(url)
        target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        with tcp_proxy(target) as proxy:
            userinfo = parts.netloc.rpartition("@")[0]
            netloc = f"{userinfo}@127.0.0.1:{proxy.port}" if userinfo else f"127.0.0.1:{proxy.port}"
            proxied = urlunsplit(parts._replace(netloc=netloc))
            env = {"TOTPFLOW_MASTER_KEY": master_key()}
            with run_server(tmp_path, database_url=proxied, env=env) as server:
                yield server, proxy


def eventually(base_url: str, status: int) -> dict[str, str]:
    """Poll /readyz until it answers ``status`` (a pooled connection may need one failed check to notice)."""
    for _ in range(100):
        code, body = readiness(base_url)
        if code == status:
            return body
        time.sleep(0.1)
    pytest.fail(f"/readyz never answered {status}; last {code} {body}")


def test_healthz_and_readyz_without_credentials(sqlite_server: StytchServer) -> None:
    health = httpx.get(sqlite_server.base_url + "/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert readiness(sqlite_server.base_url) == (200, {"status": "ready"})
    # Neither is a Stytch route: a path below them is still Stytch's 404.
    below = httpx.get(sqlite_server.base_url + "/healthz/x")
    assert below.status_code == 404 and below.json()["error_type"] == "route_not_found"


def test_readyz_is_not_ready_while_the_schema_is_not_at_the_head(tmp_path: Path) -> None:
    with run_server(tmp_path) as server:
        path = server.database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            (head,) = db.execute("SELECT version_num FROM alembic_version").fetchone()
            db.execute("UPDATE alembic_version SET version_num = '0000_older'")
        assert readiness(server.base_url) == (503, {"status": "not_ready", "reason": "schema"})
        with sqlite3.connect(path) as db:
            db.execute("UPDATE alembic_version SET version_num = ?", (head,))
        assert readiness(server.base_url) == (200, {"status": "ready"})


@pytest.mark.postgres
def test_readyz_follows_the_database_through_a_cut_connection(tmp_path: Path) -> None:
    """The server reaches PostgreSQL through a proxy this test cuts and restores (the shared database keeps
    running)."""
    with proxied_server(tmp_path) as (server, proxy):
        assert readiness(server.base_url) == (200, {"status": "ready"})
        proxy.cut()
        assert eventually(server.base_url, 503) == {"status": "not_ready", "reason": "database"}
        assert httpx.get(server.base_url + "/healthz").status_code == 200  # the process still answers
        proxy.restore()
        assert eventually(server.base_url, 200) == {"status": "ready"}


@pytest.mark.postgres
def test_readyz_answers_not_ready_when_the_database_stops_answering(tmp_path: Path) -> None:
    """A database that keeps its connections open but never replies: /readyz still answers (503), and is ready
    again once the database answers."""
    with proxied_server(tmp_path) as (server, proxy):
        assert readiness(server.base_url) == (200, {"status": "ready"})
        proxy.stall()
        assert readiness(server.base_url) == (503, {"status": "not_ready", "reason": "database"})
        assert httpx.get(server.base_url + "/healthz").status_code == 200
        proxy.restore()
        assert eventually(server.base_url, 200) == {"status": "ready"}


def test_readyz_answers_while_every_service_thread_waits_on_the_database(tmp_path: Path) -> None:
    """Another process holds SQLite's write lock, so the service calls of more requests than the worker has
    service threads all wait (up to the busy timeout); ``/readyz`` and ``/metrics`` run on threads of their
    own and still answer, ready, well within the readiness timeout."""
    from concurrent.futures import ThreadPoolExecutor

    from serverkit import basic

    from totpflow.server.http.dispatch import SERVICE_THREADS

    with run_server(tmp_path) as server:
        auth = {"Authorization": basic(server.project_id, server.secret)}
        warm = httpx.post(server.base_url + "/v1/users", json={"email": "warm@x.org"}, headers=auth)
        assert warm.status_code == 200, warm.text  # the credential is remembered: no read before the write
        holder = sqlite3.connect(server.database_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            with ThreadPoolExecutor(SERVICE_THREADS + 4) as pool:
                waiting = [
                    pool.submit(
                        httpx.post,
                        server.base_url + "/v1/users",
                        json={"email": f"waiting-{n}@x.org"},
                        headers=auth,
                        timeout=60,
                    )
                    for n in range(SERVICE_THREADS + 4)
                ]
                time.sleep(1.0)  # every service thread is now taken by a writer waiting for the lock
                assert not any(future.done() for future in waiting)
                began = time.monotonic()
                assert readiness(server.base_url) == (200, {"status": "ready"})
                assert httpx.get(server.base_url + "/metrics", timeout=30).status_code == 200
                assert time.monotonic() - began < 3.0
                holder.execute("ROLLBACK")
                assert all(future.result().status_code == 200 for future in waiting)
        finally:
            holder.close()
