"""``totpflow keys rotate`` against a running ``totpflow serve`` (SQLite and PostgreSQL): JWTs signed before
the rotation still verify through the served JWKS (PyJWKClient and the official SDK's
``authenticate_jwt_local``), new ones are signed with the new key; bad input exits 2 with a clear message."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt as pyjwt
import pyotp
import pytest
import stytch
from serverkit import BACKENDS, Backend, create_project, start

pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with start(request.param, tmp_path_factory.mktemp(f"keys-{request.param}")) as running:
        yield running


def keys(backend: Backend, *args: str, master_key: str | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    override = {} if master_key is None else {"TOTPFLOW_MASTER_KEY": master_key}
    return subprocess.run(
        [sys.executable, "-m", "totpflow", "keys", *args, "--database-url", backend.server.database_url],
        env={**base, **backend.env, **override},
        capture_output=True,
        text=True,
        timeout=120,
    )


def sign_in(client: stytch.Client) -> Any:
    user = client.users.create(email=f"keys-{uuid.uuid4().hex[:10]}@example.com")
    totp = client.totps.create(user_id=user.user_id)
    return client.totps.authenticate(
        user_id=user.user_id, totp_code=pyotp.TOTP(totp.secret).now(), session_duration_minutes=60
    )


def kid_of(token: str) -> str:
    kid: str = pyjwt.get_unverified_header(token)["kid"]
    return kid


def test_rotate_keeps_earlier_jwts_verifiable(backend: Backend) -> None:
    server = backend.server
    before = sign_in(server.client())

    result = keys(backend, "rotate", "--project-id", server.project_id)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["project_id"] == server.project_id and printed["kid"] != kid_of(before.session_jwt)

    jwks_url = f"{server.base_url}/v1/sessions/jwks/{server.project_id}"
    served = [k["kid"] for k in httpx.get(jwks_url).json()["keys"]]
    assert served == [printed["kid"], kid_of(before.session_jwt)]

    fresh = server.client()  # a client that has not cached the JWKS yet
    local = fresh.sessions.authenticate_jwt_local(session_jwt=before.session_jwt)
    assert local is not None and local.session_id == before.session.session_id
    signing_key = pyjwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(before.session_jwt)
    claims = pyjwt.decode(
        before.session_jwt, signing_key.key, algorithms=["RS256"], audience=server.project_id
    )
    assert claims["sub"] == before.user_id

    after = sign_in(server.client())
    assert kid_of(after.session_jwt) == printed["kid"]
    assert fresh.sessions.authenticate_jwt_local(session_jwt=after.session_jwt) is not None
    # The server itself accepts both JWTs.
    assert server.client().sessions.authenticate(session_jwt=before.session_jwt).session_jwt


def test_rotate_refuses_bad_input(backend: Backend) -> None:
    unknown = keys(backend, "rotate", "--project-id", "project-test-00000000-0000-4000-8000-000000000000")
    assert unknown.returncode == 2 and "no project" in unknown.stderr and "Traceback" not in unknown.stderr
    other_key = base64.b64encode(secrets.token_bytes(32)).decode()
    before = httpx.get(f"{backend.server.base_url}/v1/sessions/jwks/{backend.server.project_id}").json()
    foreign = keys(backend, "rotate", "--project-id", backend.server.project_id, master_key=other_key)
    assert foreign.returncode == 2 and "master key" in foreign.stderr and other_key not in foreign.stderr
    after = httpx.get(f"{backend.server.base_url}/v1/sessions/jwks/{backend.server.project_id}").json()
    assert after["keys"] == before["keys"]  # nothing stored that the server could not read
    create_project(backend)  # now the database holds two projects
    ambiguous = keys(backend, "rotate")
    assert ambiguous.returncode == 2 and "--project-id" in ambiguous.stderr
    assert ambiguous.stdout == ""
