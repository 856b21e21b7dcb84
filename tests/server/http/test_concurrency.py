"""Twenty concurrent authenticates with the same valid code over HTTP: exactly one succeeds (RFC 6238 §5.2: a
code is accepted once), on every backend, because the replay check is one conditional UPDATE in the
database."""

from __future__ import annotations

import threading

import httpx
import pyotp
from serverkit import Backend, basic, loopback_client

CONCURRENCY = 20


def test_same_code_concurrently_succeeds_once(backend: Backend) -> None:
    server = backend.server
    auth = {"Authorization": basic(server.project_id, server.secret)}
    with loopback_client(server.base_url, headers=auth, timeout=60) as client:
        user = client.post("/v1/users", json={"email": f"race-{backend.name}@example.com"}).json()
        totp = client.post("/v1/totps", json={"user_id": user["user_id"]}).json()
    body = {"user_id": user["user_id"], "totp_code": pyotp.TOTP(totp["secret"]).now()}

    barrier = threading.Barrier(CONCURRENCY)
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def attempt() -> None:
        with loopback_client(server.base_url, headers=auth, timeout=60) as own:
            own.get("/openapi.json")  # open the connection before the barrier
            barrier.wait()
            response = own.post("/v1/totps/authenticate", json=body)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=attempt) for _ in range(CONCURRENCY)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == 1, statuses
    for response in results:
        if response.status_code != 200:
            assert 400 <= response.status_code < 500
            assert response.json()["error_type"] == "totp_code_already_authenticated", response.text
