"""A request whose service the server runs on its event loop (``services.ON_LOOP``) while another process
holds SQLite's write lock: it is answered once the lock is free (the call suspended meanwhile, its BEGIN
waiting in a helper thread), and the event loop keeps answering other requests. A real ``totpflow serve``
on loopback, the lock taken by this test process's own SQLite connection."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import httpx

from totpflow.testing import run_server

HOLD_SECONDS = 0.8


def test_a_locked_database_suspends_the_call_and_the_loop_stays_responsive(tmp_path: Path) -> None:
    with run_server(tmp_path) as server, httpx.Client(base_url=server.base_url, timeout=30) as client:
        auth = (server.project_id, server.secret)
        assert client.post("/v1/users", json={"email": "before@example.com"}, auth=auth).status_code == 200
        assert server.database_url is not None
        other = sqlite3.connect(
            server.database_url.removeprefix("sqlite:///"), isolation_level=None, check_same_thread=False
        )
        other.execute("BEGIN IMMEDIATE")
        released = threading.Event()

        def release() -> None:
            time.sleep(HOLD_SECONDS)
            other.execute("ROLLBACK")
            released.set()

        holder = threading.Thread(target=release)
        began = time.monotonic()
        holder.start()
        answers: dict[str, tuple[int, float]] = {}

        def create() -> None:
            with httpx.Client(base_url=server.base_url, timeout=30) as own:
                response = own.post("/v1/users", json={"email": "during@example.com"}, auth=auth)
                answers["create"] = (response.status_code, time.monotonic() - began)

        creating = threading.Thread(target=create)
        creating.start()
        time.sleep(0.2)
        health = client.get("/healthz")
        answers["health"] = (health.status_code, time.monotonic() - began)
        creating.join(30)
        holder.join(30)
        other.close()

        assert answers["health"][0] == 200
        assert answers["health"][1] < HOLD_SECONDS  # answered while the lock was still held
        status, elapsed = answers["create"]
        assert status == 200
        assert elapsed >= HOLD_SECONDS - 0.1  # it waited for the lock
        assert released.is_set()
        found = client.post(
            "/v1/users/search",
            json={
                "query": {
                    "operator": "AND",
                    "operands": [{"filter_name": "email_address", "filter_value": ["during@example.com"]}],
                }
            },
            auth=auth,
        )
        assert found.status_code == 200 and len(found.json()["results"]) == 1
