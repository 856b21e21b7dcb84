"""Stored secrets are bound to their owners, against someone who can write to the database (a real server on
SQLite and PostgreSQL, changed underneath it with SQL):

* an attacker re-points their own TOTP row at a victim: the victim's second factor can then NOT be passed
  with the attacker's authenticator or recovery codes; the server answers a Stytch 500, logs an integrity
  error naming only ids, and keeps serving;
* a signing key's stored public JWK is swapped for the attacker's: the JWKS no longer serves it, and a JWT
  the attacker signs with that ``kid`` authenticates nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt as pyjwt
import pyotp
import pytest
from serverkit import BACKENDS, Backend, basic, start
from sqlalchemy import create_engine, update

from totpflow.server import crypto
from totpflow.server.storage.schema import signing_keys, totps

STYTCH_ERROR_FIELDS = {"status_code", "request_id", "error_type", "error_message", "error_url"}


@pytest.fixture(params=BACKENDS)
def running(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Backend, Path]]:
    with start(request.param, tmp_path) as backend:
        yield backend, tmp_path


def _client(backend: Backend) -> httpx.Client:
    server = backend.server
    auth = {"Authorization": basic(server.project_id, server.secret)}
    return httpx.Client(base_url=server.base_url, headers=auth, timeout=30)


def _enrol(client: httpx.Client, email: str) -> dict[str, Any]:
    user = client.post("/v1/users", json={"email": email}).json()
    totp = client.post("/v1/totps", json={"user_id": user["user_id"]}).json()
    body = {"user_id": user["user_id"], "totp_code": pyotp.TOTP(totp["secret"]).now()}
    assert client.post("/v1/totps/authenticate", json=body).status_code == 200
    return {"user_id": user["user_id"], **totp}


def _write(backend: Backend, statement: Any) -> None:
    """Change the database underneath the running server, as someone with write access could."""
    url = backend.server.database_url
    driver_url = url if url.startswith("sqlite") else "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(driver_url)
    with engine.begin() as connection:
        connection.execute(statement)
    engine.dispose()


def _server_log(directory: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in directory.glob("server-*.log"))


def _is_stytch_500(response: httpx.Response) -> bool:
    body = response.json()
    return response.status_code == 500 and set(body) == STYTCH_ERROR_FIELDS and body["status_code"] == 500


def test_a_totp_row_moved_to_a_victim_passes_neither_code_nor_recovery(running: tuple[Backend, Path]) -> None:
    backend, directory = running
    with _client(backend) as client:
        attacker = _enrol(client, "mallory@example.com")
        victim = _enrol(client, "victim@example.com")
        # With write access to the database: retire the victim's TOTP, hand the attacker's to the victim.
        _write(backend, update(totps).where(totps.c.totp_id == victim["totp_id"]).values(deleted=True))
        _write(
            backend,
            update(totps).where(totps.c.totp_id == attacker["totp_id"]).values(user_id=victim["user_id"]),
        )
        code = pyotp.TOTP(attacker["secret"]).at(time.time() + 30)  # a step newer than the one used above
        passed = client.post("/v1/totps/authenticate", json={"user_id": victim["user_id"], "totp_code": code})
        recovered = client.post(
            "/v1/totps/recover",
            json={"user_id": victim["user_id"], "recovery_code": attacker["recovery_codes"][1]},
        )
        listed = client.post("/v1/totps/recovery_codes", json={"user_id": victim["user_id"]})
        for response in (passed, recovered, listed):
            assert _is_stytch_500(response), response.text
            assert "session_token" not in response.text
        # The server fails closed for this row only: everyone else carries on.
        assert client.get(f"/v1/users/{attacker['user_id']}").status_code == 200
    log = _server_log(directory)
    assert log.count("integrity error") >= 3
    assert "Traceback" not in log
    for secret in (attacker["secret"], *attacker["recovery_codes"], victim["secret"]):
        assert secret not in log


def test_a_swapped_public_key_is_neither_served_nor_trusted(running: tuple[Backend, Path]) -> None:
    backend, directory = running
    project_id = backend.server.project_id
    with _client(backend) as client:
        user = _enrol(client, "ada@example.com")
        (served,) = client.get(f"/v1/sessions/jwks/{project_id}").json()["keys"]
        kid = served["kid"]
        forged = crypto.generate_signing_key(kid, datetime.now(UTC))
        _write(
            backend,
            update(signing_keys).where(signing_keys.c.kid == kid).values(public_jwk=forged.public_jwk),
        )
        after = client.get(f"/v1/sessions/jwks/{project_id}")
        assert after.status_code == 200
        assert forged.public_jwk["n"] not in after.text and after.json()["keys"] == []
        now = int(time.time())
        claims = {
            "sub": user["user_id"],
            "aud": [project_id],
            "iss": f"stytch.com/{project_id}",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "https://stytch.com/session": {"id": "session-test-forged"},
        }
        token = pyjwt.encode(claims, forged.private_key, algorithm="RS256", headers={"kid": kid})
        refused = client.post("/v1/sessions/authenticate", json={"session_jwt": token})
        assert refused.status_code in (401, 404) and set(refused.json()) == STYTCH_ERROR_FIELDS
        # Restoring the true public key serves it again.
        _write(backend, update(signing_keys).where(signing_keys.c.kid == kid).values(public_jwk=served))
        assert client.get(f"/v1/sessions/jwks/{project_id}").json()["keys"] == [served]
    log = _server_log(directory)
    assert "integrity error" in log and kid in log and "Traceback" not in log
