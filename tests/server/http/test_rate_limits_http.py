"""Rate limits over HTTP: ``POST /v1/totps/authenticate`` and ``/v1/totps/recover`` answer 429
``too_many_requests`` past the per-user limit, and the count is shared by two server processes on one
database (the counters live in the store)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from serverkit import BACKENDS, basic, start

from totpflow.testing import run_server

# A week-long window: the test never straddles a window boundary in practice (one falls every 7 days).
ENV = {"TOTPFLOW_RATE_LIMIT_USER": "3/7d", "TOTPFLOW_RATE_LIMIT_PROJECT": "off"}
WRONG = {"totp_code": "000000"}


def new_user(client: httpx.Client) -> str:
    response = client.post("/v1/users", json={"email": f"rl-{uuid.uuid4().hex[:10]}@example.com"})
    user_id: str = response.json()["user_id"]
    client.post("/v1/totps", json={"user_id": user_id})
    return user_id


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_per_user_limit_is_429_too_many_requests_across_processes(backend_name: str, tmp_path: Path) -> None:
    with start(backend_name, tmp_path, dict(ENV)) as first:
        server = first.server
        auth = {"Authorization": basic(server.project_id, server.secret)}
        # A second process on the same database, serving the same project.
        env = {
            **first.env,
            "TOTPFLOW_PROJECT_ID": server.project_id,
            "TOTPFLOW_PROJECT_SECRET": server.secret,
        }
        with (
            run_server(tmp_path, database_url=server.database_url, env=env) as second,
            httpx.Client(base_url=server.base_url, headers=auth) as one,
            httpx.Client(base_url=second.base_url, headers=auth) as two,
        ):
            user_id = new_user(one)
            statuses = [
                one.post("/v1/totps/authenticate", json={"user_id": user_id, **WRONG}).status_code,
                two.post("/v1/totps/authenticate", json={"user_id": user_id, **WRONG}).status_code,
                one.post(
                    "/v1/totps/recover", json={"user_id": user_id, "recovery_code": "aaaa-bbbb-cccc"}
                ).status_code,
            ]
            # the recovery code is refused (400) as its TOTP was never confirmed; the attempt still counts
            assert statuses == [401, 401, 400]
            for client in (two, one):
                refused = client.post("/v1/totps/authenticate", json={"user_id": user_id, **WRONG})
                assert refused.status_code == 429
                body = refused.json()
                assert body["error_type"] == "too_many_requests"
                assert body["error_message"] == "Too many requests have been made."
                assert body["status_code"] == 429 and body["request_id"].startswith("request-id-test-")
            # Another user is not affected.
            other = new_user(two)
            assert two.post("/v1/totps/authenticate", json={"user_id": other, **WRONG}).status_code == 401
