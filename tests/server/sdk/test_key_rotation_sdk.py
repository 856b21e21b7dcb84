"""``totpflow keys rotate`` against a running ``totpflow serve`` (SQLite and PostgreSQL): the new key is
published before it signs, ``--now`` makes it sign at once (and says what that breaks), JWTs signed by every
key verify through the served JWKS (PyJWKClient and the official SDK's ``authenticate_jwt_local``); bad input
exits 2 with a clear message."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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


def test_rotate_publishes_first_and_now_signs_at_once(backend: Backend) -> None:
    server = backend.server
    before = sign_in(server.client())
    old_kid = kid_of(before.session_jwt)
    jwks_url = f"{server.base_url}/v1/sessions/jwks/{server.project_id}"
    cached = server.client()  # a client whose JWKS cache predates every rotation below
    assert cached.sessions.authenticate_jwt_local(session_jwt=before.session_jwt) is not None

    result = keys(backend, "rotate", "--project-id", server.project_id)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["project_id"] == server.project_id and printed["replaces"] == old_kid
    waiting = printed["kid"]
    signs_from = datetime.fromisoformat(printed["signs_from"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < signs_from - datetime.now(UTC) <= timedelta(hours=1)
    assert [k["kid"] for k in httpx.get(jwks_url).json()["keys"]] == [old_kid, waiting]
    during = sign_in(server.client())
    assert kid_of(during.session_jwt) == old_kid  # published, not signing yet

    again = keys(backend, "rotate", "--project-id", server.project_id)
    assert again.returncode == 2 and waiting in again.stderr and "--now" in again.stderr

    urgent = keys(backend, "rotate", "--project-id", server.project_id, "--now")
    assert urgent.returncode == 0, urgent.stderr
    assert "cannot verify" in urgent.stderr
    new_kid = json.loads(urgent.stdout)["kid"]
    after = sign_in(server.client())
    assert kid_of(after.session_jwt) == new_kid
    served = [k["kid"] for k in httpx.get(jwks_url).json()["keys"]]
    assert served[0] == new_kid and set(served) == {new_kid, waiting, old_kid}

    # The client cached before the rotations verifies the JWTs of the keys it knew; a JWT of the key that
    # signed at once verifies for a client that fetches the JWKS now (what --now breaks in between).
    for result_, verifier in ((before, cached), (during, cached), (after, server.client())):
        local = verifier.sessions.authenticate_jwt_local(session_jwt=result_.session_jwt)
        assert local is not None and local.session_id == result_.session.session_id
    signing_key = pyjwt.PyJWKClient(jwks_url).get_signing_key_from_jwt(before.session_jwt)
    claims = pyjwt.decode(
        before.session_jwt, signing_key.key, algorithms=["RS256"], audience=server.project_id
    )
    assert claims["sub"] == before.user_id
    # The server itself accepts every one of them.
    assert server.client().sessions.authenticate(session_jwt=before.session_jwt).session_jwt


def test_rotate_refuses_bad_input(backend: Backend) -> None:
    duration = keys(backend, "rotate", "--project-id", backend.server.project_id, "--publish-for", "soon")
    assert duration.returncode == 2 and "--publish-for" in duration.stderr and duration.stdout == ""
    for value in ("3000000d", "0"):  # past the clock's dates; 0 is --now, which says what it does
        refused = keys(backend, "rotate", "--project-id", backend.server.project_id, "--publish-for", value)
        assert refused.returncode == 2 and "--publish-for" in refused.stderr, refused.stderr
        assert "Traceback" not in refused.stderr and refused.stdout == ""
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
