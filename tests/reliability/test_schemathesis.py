"""Schemathesis against the ``/openapi.json`` served by a real ``totpflow serve`` process (SQLite store).

Every operation of the document, with generated valid (positive) and invalid (negative) inputs, sent once with
the project's credentials and once with a wrong secret. Each response must pass Schemathesis's
``not_a_server_error`` (no 5xx), ``status_code_conformance`` (the status is documented for the operation),
``content_type_conformance`` and ``response_schema_conformance`` (the body matches the documented schema), and,
with a wrong secret, be the Stytch ``unauthorized_credentials`` error (the credentials are checked before the
body is read, stytch-api.md §5).

One pytest item per operation, generation mode and credential kind; inside it Hypothesis draws the cases from
the operation's strategy in the SERVED schema. (Schemathesis's own lazy pytest integration,
``schemathesis.pytest.from_fixture``, fails on pytest 9 — it reads ``request.node._nodeid`` — so the items are
built here; the operation list for collection comes from the same document the server serves, and the test
fails if the served document lacks an operation.)

Quick profile (default, CI): :data:`QUICK_EXAMPLES` generated cases per operation, mode and credential.
Long profile: ``TOTPFLOW_SCHEMATHESIS_LONG=1 pytest -m slow tests/reliability/test_schemathesis.py`` runs
:data:`LONG_EXAMPLES` per operation, mode and credential (>= 1,000 per operation).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

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
from serverkit import basic

from totpflow.server.openapi import build_document
from totpflow.testing import StytchServer, run_server

QUICK_EXAMPLES = 40
LONG_EXAMPLES = 1000
LONG_ENV = "TOTPFLOW_SCHEMATHESIS_LONG"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CREDENTIALS = ["valid", "wrong-secret"]
WRONG_SECRET_ERRORS = {
    "unauthorized_credentials",
    "invalid_authorization_header",
    "bad_request",
    "request_too_large",
    "route_not_found",
    "method_not_allowed",
}

# Cases tried and statuses seen, per profile, written to the figures file when the module ends.
TALLY: dict[str, Counter[str]] = {"quick": Counter(), "long": Counter()}


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StytchServer]:
    with run_server(tmp_path_factory.mktemp("schemathesis")) as server:
        yield server
    for profile, tally in TALLY.items():
        if tally:
            record("schemathesis", profile=profile, **dict(sorted(tally.items())))


@pytest.fixture(scope="module")
def served_schema(api_server: StytchServer) -> Any:
    return schemathesis.openapi.from_url(api_server.base_url + "/openapi.json")


def authorization(server: StytchServer, credentials: str) -> str:
    if credentials == "valid":
        return basic(server.project_id, server.secret)
    return basic(server.project_id, "secret-test-wrong")


def exercise(case: Any, server: StytchServer, credentials: str, profile: str) -> None:
    headers = {"Authorization": authorization(server, credentials)}
    response = case.call(base_url=server.base_url, headers=headers)
    tally = TALLY[profile]
    tally["cases"] += 1
    tally[f"{credentials}:{response.status_code // 100}xx"] += 1
    if response.status_code >= 500:
        tally["5xx"] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)
    if credentials != "valid" and case.operation.definition.raw.get("security"):
        # A wrong secret never reaches data: no 2xx, no `*_not_found` of a user/TOTP/session. The header is
        # parsed first and the secret verified together with the service call, after the body is decoded
        # (routes.py), so a malformed body is still a 400 bad_request / 413 rather than a 401.
        assert response.status_code in (400, 401, 404, 405, 413), response.text
        assert response.json()["error_type"] in WRONG_SECRET_ERRORS, response.text


def run(served_schema: Any, server: StytchServer, label: str, mode: str, credentials: str, profile: str) -> None:
    operation = served_schema.find_operation_by_label(label)
    assert operation is not None, f"{label} is missing from the served /openapi.json"
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

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
        exercise(case, server, credentials, profile)

    try:
        property_holds()
    except Unsatisfiable:
        if mode != "negative":
            raise
        pytest.skip(f"{label}: its parameters admit no negative value (a path string is any string)")


LABELS = [op.ok().label for op in schemathesis.openapi.from_dict(build_document()).get_all_operations()]
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
