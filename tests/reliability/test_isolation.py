"""Project isolation (OWASP ASVS 5.0 §8.2 object-level authorization): project B's valid credentials on
project A's ids reach nothing of A's, on every route, on both backends.

A enrolls a user (verified TOTP, recovery codes, a session with its token and JWT). B, a second project in the
same database (``totpflow project create``), then tries every route with A's ids, codes and tokens. Each
answer is the route's ``*_not_found`` error, never A's data; and nothing B tried changed A (A's code of this
step, A's recovery code and A's session still work afterwards, A's snapshot is unchanged). The expected
answer of every route is in ``data/isolation.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import yaml
from figures import record
from serverkit import Backend, basic, create_project, loopback_client

DATA = yaml.safe_load((Path(__file__).parent / "data" / "isolation.yaml").read_text(encoding="utf-8"))
TALLY: dict[str, int] = {}


def fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{([a-z_]+)\}", lambda m: values[m.group(1)], value)
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    return value


@pytest.fixture(scope="module")
def projects(backend: Backend) -> Iterator[tuple[Backend, dict[str, str], dict[str, str]]]:
    """(backend, A's enrolled ids, B's authorization header)."""
    server = backend.server
    a = {"Authorization": basic(server.project_id, server.secret)}
    with loopback_client(server.base_url, headers=a, timeout=30) as client:
        email = f"isolated-{backend.name}@example.com"
        user = client.post("/v1/users", json={"email": email, "external_id": "isolated-external"}).json()
        totp = client.post("/v1/totps", json={"user_id": user["user_id"]}).json()
        secret = totp["secret"]
        session = client.post(
            "/v1/totps/authenticate",
            json={"user_id": user["user_id"], "totp_code": pyotp.TOTP(secret).now(),
                  "session_duration_minutes": 60},
        ).json()  # fmt: skip
    b = create_project(backend)
    yield (
        backend,
        {
            "email": email,
            "user_id": user["user_id"],
            "totp_id": totp["totp_id"],
            "totp_secret": secret,
            "recovery_code": totp["recovery_codes"][0],
            "session_id": session["session"]["session_id"],
            "session_token": session["session_token"],
            "session_jwt": session["session_jwt"],
        },
        {"Authorization": basic(*b)},
    )
    record("isolation", backend=backend.name, **TALLY)
    TALLY.clear()


def a_snapshot(server: Any, values: dict[str, str]) -> dict[str, Any]:
    a = {"Authorization": basic(server.project_id, server.secret)}
    with loopback_client(server.base_url, headers=a, timeout=30) as client:
        user = client.get(f"/v1/users/{values['user_id']}").json()
        sessions = client.get("/v1/sessions", params={"user_id": values["user_id"]}).json()["sessions"]
        total = client.post("/v1/users/search", json={}).json()["results_metadata"]["total"]
    user.pop("request_id")
    return {"user": user, "sessions": sorted(s["session_id"] for s in sessions), "users": total}


CASES = [pytest.param(case, id=case["id"]) for case in DATA["cases"]]


@pytest.mark.parametrize("case", CASES)
def test_project_b_cannot_reach_project_a(projects: tuple[Backend, dict[str, str], dict[str, str]],
                                          case: dict[str, Any]) -> None:  # fmt: skip
    backend, values, b_auth = projects
    server = backend.server
    values = {**values, "totp_code": pyotp.TOTP(values["totp_secret"]).now()}
    before = a_snapshot(server, values)
    with loopback_client(server.base_url, headers=b_auth, timeout=30) as client:
        response = client.request(
            case["method"], fill(case["path"], values),
            json=fill(case["body"], values) if "body" in case else None,
        )  # fmt: skip
    TALLY["requests"] = TALLY.get("requests", 0) + 1
    text = response.text
    for key in ("user_id", "totp_id", "session_id", "email"):  # nothing of A's in B's answer
        if not case.get("echoes_input"):
            assert values[key] not in text, (key, text)
    expected = case["expect"]
    if "error_type" in expected:
        assert response.status_code == expected["status"], text
        assert response.json()["error_type"] == expected["error_type"], text
    else:
        assert response.status_code == 200, text
        body = response.json()
        for key, value in expected.get("equals", {}).items():
            assert body[key] == value, text
    TALLY[f"{response.status_code}"] = TALLY.get(f"{response.status_code}", 0) + 1
    assert a_snapshot(server, values) == before


def test_project_a_unaffected(projects: tuple[Backend, dict[str, str], dict[str, str]]) -> None:
    """After every B attempt (this module's other tests ran first), A's factors and session still work."""
    backend, values, _ = projects
    server = backend.server
    a = {"Authorization": basic(server.project_id, server.secret)}
    with loopback_client(server.base_url, headers=a, timeout=30) as client:
        session = client.post("/v1/sessions/authenticate", json={"session_token": values["session_token"]})
        assert session.status_code == 200, session.text
        recovered = client.post(
            "/v1/totps/recover", json={"user_id": values["user_id"], "recovery_code": values["recovery_code"]}
        )
        assert recovered.status_code == 200, recovered.text
        user = client.get(f"/v1/users/{values['user_id']}").json()
        assert user["totps"][0]["verified"] is True
