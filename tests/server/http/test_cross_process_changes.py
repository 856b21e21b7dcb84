"""What another process changes is seen by the very next request of a running ``totpflow serve`` (one worker
and two), on SQLite and PostgreSQL: a secret reset with ``totpflow project reset-secret`` refuses the old
secret at once and accepts the new one; a key rotated with ``totpflow keys rotate --now`` signs the next
session JWT. Every request goes on a connection of its own, so with two workers both answer some."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import httpx
import jwt as pyjwt
import pyotp
import pytest
from serverkit import BACKENDS, Backend, basic, start

REQUESTS = 16  # per check: with two workers, each is all but certain to answer some


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def workers(request: pytest.FixtureRequest) -> int:
    count: int = request.param
    return count


@pytest.fixture(scope="module", params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, workers: int, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    directory = tmp_path_factory.mktemp(f"cross-{request.param}-{workers}")
    with start(request.param, directory, workers=workers) as running:
        yield running


def cli(backend: Backend, *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    return subprocess.run(
        [sys.executable, "-m", "totpflow", *args, "--database-url", backend.server.database_url],
        env={**base, **backend.env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def post(backend: Backend, secret: str, path: str, body: dict[str, object]) -> httpx.Response:
    """One request on a fresh connection (so that with two workers either may answer it)."""
    headers = {"Authorization": basic(backend.server.project_id, secret), "Connection": "close"}
    return httpx.post(backend.server.base_url + path, json=body, headers=headers, timeout=30)


def test_a_key_rotated_elsewhere_signs_the_next_jwt(backend: Backend) -> None:
    secret = backend.server.secret
    user = post(backend, secret, "/v1/users", {"email": f"keys-{uuid.uuid4().hex[:10]}@example.com"}).json()
    totp = post(backend, secret, "/v1/totps", {"user_id": user["user_id"]}).json()
    body = {"user_id": user["user_id"], "totp_code": pyotp.TOTP(totp["secret"]).now()}
    signed_in = post(backend, secret, "/v1/totps/authenticate", {**body, "session_duration_minutes": 60})
    assert signed_in.status_code == 200, signed_in.text
    token = signed_in.json()["session_token"]

    def next_kid() -> str:
        answer = post(backend, secret, "/v1/sessions/authenticate", {"session_token": token})
        assert answer.status_code == 200, answer.text
        kid: str = pyjwt.get_unverified_header(answer.json()["session_jwt"])["kid"]
        return kid

    before = {next_kid() for _ in range(REQUESTS)}  # every worker now remembers the key set
    assert len(before) == 1
    rotated = cli(backend, "keys", "rotate", "--project-id", backend.server.project_id, "--now")
    assert rotated.returncode == 0, rotated.stderr
    new_kid = json.loads(rotated.stdout)["kid"]
    assert new_kid not in before
    assert [next_kid() for _ in range(REQUESTS)] == [new_kid] * REQUESTS


# Last: the server's secret is not the one it started with after this.
def test_a_reset_secret_is_refused_by_the_next_request(backend: Backend) -> None:
    old = backend.server.secret
    for number in range(REQUESTS):  # every worker now remembers the project with the old secret
        created = post(backend, old, "/v1/users", {"email": f"before-{uuid.uuid4().hex[:8]}-{number}@x.org"})
        assert created.status_code == 200, created.text
    reset = cli(backend, "project", "reset-secret", backend.server.project_id, "--json")
    assert reset.returncode == 0, reset.stderr
    new = json.loads(reset.stdout)["secret"]
    for number in range(REQUESTS):
        # A body the handler, the dispatcher (a NUL character) or the service would refuse (400) is refused
        # for its credentials (401) first.
        for invalid in ({"email": "a\u0000b@x.org"}, {"email": 5}, {"email": "not an email"}):
            refused = post(backend, old, "/v1/users", invalid)
            assert refused.status_code == 401, refused.text
        refused = post(backend, old, "/v1/users", {"email": f"old-{uuid.uuid4().hex[:8]}-{number}@x.org"})
        assert refused.status_code == 401, refused.text
        assert refused.json()["error_type"] == "unauthorized_credentials"
        accepted = post(backend, new, "/v1/users", {"email": f"new-{uuid.uuid4().hex[:8]}-{number}@x.org"})
        assert accepted.status_code == 200, accepted.text
