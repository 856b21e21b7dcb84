"""Schemathesis against the ``/openapi.json`` served by a real ``totpflow serve`` process, on SQLite and on
PostgreSQL.

Every operation of the document, with generated valid (positive) and invalid (negative) inputs, each sent with
three credential kinds: the project's (``valid``), the project's with the ids of an enrolled user put into the
case (``valid-seeded``, so requests reach real objects), and a wrong secret. Each response must pass
Schemathesis's ``not_a_server_error`` (no 5xx), ``status_code_conformance`` (the status is documented for the
operation), ``content_type_conformance`` and ``response_schema_conformance`` (the body matches the documented
schema), and, with a wrong secret, never reach data (no 2xx, no ``*_not_found``; stytch-api.md §5).

One pytest item per operation, generation mode and credential kind; inside it Hypothesis draws the cases from
the operation's strategy in the SERVED schema. (Schemathesis's own lazy pytest integration,
``schemathesis.pytest.from_fixture``, fails on pytest 9 — it reads ``request.node._nodeid`` — so the items are
built here; the operation list for collection comes from the same document the server serves, and the test
fails if the served document lacks an operation.)

Quick profile (default, CI): :data:`QUICK_EXAMPLES` cases per operation, mode and credential kind.
Long profile (marked ``slow``, skipped unless ``TOTPFLOW_SCHEMATHESIS_LONG=1``; docs/reliability.md has the
command) runs :data:`LONG_EXAMPLES` per operation, mode and credential kind (6,000 per operation).
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
import schemathesis
from figures import record
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from serverkit import BACKENDS, basic, loopback_client, start

from totpflow.server.openapi import build_document
from totpflow.testing import StytchServer

QUICK_EXAMPLES = 25
LONG_EXAMPLES = 1000
LONG_ENV = "TOTPFLOW_SCHEMATHESIS_LONG"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# "valid-seeded": valid credentials, and every id, token and code the case carries replaced by one of a user
# enrolled for the purpose, so generated requests reach existing objects (and 200s) rather than only 404s.
CREDENTIALS = ["valid", "valid-seeded", "wrong-secret"]
SEEDED_FIELDS = ("user_id", "totp_id", "project_id", "session_id", "session_token", "session_jwt")
# With a wrong secret: 401, whatever the body (credentials are verified before it is read); or a request the
# HTTP parser or the router refuses before any credential is looked at.
WRONG_SECRET_ERRORS = {"unauthorized_credentials", "bad_request", "route_not_found"}

# Cases tried and statuses seen, per profile, written to the figures file when the module ends.
TALLY: dict[str, Counter[str]] = {"quick": Counter(), "long": Counter()}


@pytest.fixture(scope="module", params=BACKENDS)
def api_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StytchServer]:
    with start(request.param, tmp_path_factory.mktemp(f"schemathesis-{request.param}")) as running:
        yield running.server
    for profile, tally in TALLY.items():
        if tally:
            record("schemathesis", backend=request.param, profile=profile, **dict(sorted(tally.items())))
        tally.clear()


@pytest.fixture(scope="module")
def served_schema(api_server: StytchServer) -> Any:
    return schemathesis.openapi.from_url(api_server.base_url + "/openapi.json")


def authorization(server: StytchServer, credentials: str) -> str:
    if credentials.startswith("valid"):
        return basic(server.project_id, server.secret)
    return basic(server.project_id, "secret-test-wrong")


def enroll(server: StytchServer) -> dict[str, str]:
    """A fresh user with a verified TOTP and a session: the ids a seeded case is given."""
    auth = {"Authorization": basic(server.project_id, server.secret)}
    with loopback_client(server.base_url, headers=auth, timeout=30) as client:
        user = client.post("/v1/users", json={"email": f"seed-{uuid.uuid4().hex[:12]}@example.com"}).json()
        totp = client.post("/v1/totps", json={"user_id": user["user_id"]}).json()
        body = {"user_id": user["user_id"], "totp_code": pyotp.TOTP(totp["secret"]).now()}
        session = client.post("/v1/totps/authenticate", json={**body, "session_duration_minutes": 60}).json()
    return {
        "user_id": user["user_id"],
        "totp_id": totp["totp_id"],
        "project_id": server.project_id,
        "session_id": session["session"]["session_id"],
        "session_token": session["session_token"],
        "session_jwt": session["session_jwt"],
    }


def seed(case: Any, ids: dict[str, str]) -> None:
    """Put the enrolled user's ids into the case wherever it has a field of that name."""
    for container in (case.path_parameters, case.query, case.body):
        if isinstance(container, dict):
            for name in SEEDED_FIELDS:
                if name in container:
                    container[name] = ids[name]


def exercise(case: Any, server: StytchServer, credentials: str, profile: str, ids: dict[str, str]) -> None:
    if credentials == "valid-seeded":
        # One user per test item; a DELETE consumes it, so those operations get a fresh one per case.
        seed(case, enroll(server) if case.method.upper() == "DELETE" else ids)
    headers = {"Authorization": authorization(server, credentials)}
    response = case.call(base_url=server.base_url, headers=headers)
    tally = TALLY[profile]
    tally["cases"] += 1
    tally[f"{credentials}:{response.status_code // 100}xx"] += 1
    if response.status_code >= 500:
        tally["5xx"] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)
    if credentials == "wrong-secret" and case.operation.definition.raw.get("security"):
        # A wrong secret never reaches data: no 2xx, no `*_not_found` of a user/TOTP/session, and no answer
        # about the body either: the secret is verified before the body is read (http/auth.py).
        assert response.status_code in (400, 401, 404), response.text
        assert response.json()["error_type"] in WRONG_SECRET_ERRORS, response.text


def run(
    served_schema: Any, server: StytchServer, label: str, mode: str, credentials: str, profile: str
) -> None:
    operation = served_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is missing from the served /openapi.json"
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))
    ids = enroll(server) if credentials == "valid-seeded" else {}

    @given(case=strategy)
    @settings(
        max_examples=QUICK_EXAMPLES if profile == "quick" else LONG_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=profile == "quick",  # the CI profile is reproducible; the long one explores
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def property_holds(case: Any) -> None:
        exercise(case, server, credentials, profile, ids)

    try:
        property_holds()
    except Unsatisfiable:
        if mode != "negative":
            raise
        pytest.skip(f"{label}: its parameters admit no negative value (a path string is any string)")


LABELS = [op.ok().label for op in schemathesis.openapi.from_dict(build_document()).get_all_operations()]  # type: ignore[union-attr]
MATRIX = [
    pytest.param(label, mode, credentials, id=f"{label}-{mode}-{credentials}")
    for label in LABELS
    for mode in ("positive", "negative")
    for credentials in CREDENTIALS
]


@pytest.mark.parametrize(("label", "mode", "credentials"), MATRIX)
def test_openapi_quick(
    served_schema: Any, api_server: StytchServer, label: str, mode: str, credentials: str
) -> None:
    run(served_schema, api_server, label, mode, credentials, "quick")


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get(LONG_ENV), reason=f"long profile: set {LONG_ENV}=1")
@pytest.mark.parametrize(("label", "mode", "credentials"), MATRIX)
def test_openapi_long(
    served_schema: Any, api_server: StytchServer, label: str, mode: str, credentials: str
) -> None:
    run(served_schema, api_server, label, mode, credentials, "long")
