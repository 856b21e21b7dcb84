"""A hand-built ``RunResult``: the seed workflow plus a failing and a skipped workflow, for report tests.

The records deliberately hold the secrets unmasked (as if a secret were registered only late in the run), so
the tests can check that every report applies the Masker it is given.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from totpflow.arazzo.masking import Masker
from totpflow.arazzo.results import (
    CheckResult,
    Exchange,
    RecordedRequest,
    RecordedResponse,
    RunResult,
    StepResult,
    WorkflowResult,
)

BASE = "http://127.0.0.1:8765"
PROJECT_SECRET = "secret-test-Zq8xW2mN4pL6vB9c"
TOTP_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
SESSION_TOKEN = "mZAYn5aLEqKUlZ_Ad9U_fWr38GaAQ1oFAhT8ds245v7Q"
BASIC = base64.b64encode(f"project-test-1:{PROJECT_SECRET}".encode()).decode()
SECRETS = (PROJECT_SECRET, TOTP_SECRET, SESSION_TOKEN, BASIC, "287082")
START = datetime(2026, 11, 26, 14, 0, 0, tzinfo=UTC)


def masker() -> Masker:
    return Masker(SECRETS)


def _exchange(
    at: float, method: str, path: str, body: object, status: int | None, response: object, ms: float
) -> Exchange:
    request = RecordedRequest(
        method=method,
        url=f"{BASE}{path}",
        headers=(
            ("Authorization", f"Basic {BASIC}"),
            ("Content-Type", "application/json"),
            ("Cookie", f"session={SESSION_TOKEN}; theme=dark"),
        ),
        body=json.dumps(body),
        content_type="application/json",
    )
    if status is None:
        return Exchange(request, None, START + timedelta(milliseconds=at), ms, error="request timed out")
    recorded = RecordedResponse(
        status_code=status,
        headers=(
            ("Content-Type", "application/json"),
            ("Set-Cookie", f"stytch_session={SESSION_TOKEN}; Path=/; HttpOnly; Secure"),
        ),
        body=json.dumps(response),
        content_type="application/json",
    )
    return Exchange(request, recorded, START + timedelta(milliseconds=at), ms)


def sample_run() -> RunResult:
    create_user = StepResult(
        workflow_id="totp-enrollment",
        step_id="createUser",
        ok=True,
        attempts=1,
        exchanges=(
            _exchange(0, "POST", "/v1/users", {"email": "a@example.com"}, 200, {"user_id": "user-1"}, 12),
        ),
        checks=(CheckResult("$statusCode == 200", True),),
        outputs={"userId": "user-1"},
        elapsed_ms=12.5,
        operation="api_user_v1_Create",
        action="next",
    )
    create_totp = StepResult(
        workflow_id="totp-enrollment",
        step_id="createTotp",
        ok=True,
        attempts=2,
        exchanges=(
            _exchange(20, "POST", "/v1/totps", {"user_id": "user-1"}, 503, {"error_type": "unavailable"}, 5),
            _exchange(40, "POST", "/v1/totps", {"user_id": "user-1"}, 200, {"secret": TOTP_SECRET}, 9),
        ),
        checks=(CheckResult("$statusCode == 200", True),),
        outputs={"secret": TOTP_SECRET, "totpId": "totp-1"},
        elapsed_ms=35.0,
        operation="api_totp_v1_Create",
        action="next",
    )
    authenticate = StepResult(
        workflow_id="totp-enrollment",
        step_id="authenticateTotp",
        ok=True,
        attempts=1,
        exchanges=(
            _exchange(
                80,
                "POST",
                "/v1/totps/authenticate",
                {"user_id": "user-1", "totp_code": "287082"},
                200,
                {"session_token": SESSION_TOKEN, "user_id": "user-1"},
                7,
            ),
        ),
        checks=(CheckResult("$statusCode == 200", True),),
        outputs={"sessionToken": SESSION_TOKEN, "userId": "user-1"},
        elapsed_ms=8.0,
        operation="api_totp_v1_Authenticate",
        action="end",
    )
    seed = WorkflowResult(
        workflow_id="totp-enrollment",
        ok=True,
        status="succeeded",
        steps=(create_user, create_totp, authenticate),
        outputs={"userId": "user-1", "totpId": "totp-1", "sessionToken": SESSION_TOKEN},
        inputs={"email": "a@example.com", "totp_code": "287082"},
        elapsed_ms=90.0,
    )
    bad_check = StepResult(
        workflow_id="broken",
        step_id="getUser",
        ok=False,
        attempts=1,
        exchanges=(
            _exchange(100, "GET", "/v1/users/user-1?x=1&y=a%20b", None, 404, {"error_type": "nf"}, 3),
        ),
        checks=(
            CheckResult("$statusCode == 200", False, message="left 404, right 200"),
            CheckResult("$response.body#/user_id != null", True),
        ),
        outputs={},
        elapsed_ms=3.2,
        operation="api_user_v1_Get",
        action="fail",
        error="/workflows/1/steps/0: success criteria not met",
    )
    timed_out = StepResult(
        workflow_id="broken",
        step_id="slow",
        ok=False,
        attempts=1,
        exchanges=(_exchange(110, "DELETE", "/v1/users/user-1", None, None, None, 30000),),
        checks=(),
        outputs={},
        elapsed_ms=30000.0,
        operation="api_user_v1_Delete",
        action="fail",
        error="step slow: request timed out",
    )
    broken = WorkflowResult(
        workflow_id="broken",
        ok=False,
        status="failed",
        steps=(bad_check, timed_out),
        outputs={},
        inputs={"password": PROJECT_SECRET},
        elapsed_ms=30004.0,
        error="step getUser failed",
    )
    skipped = WorkflowResult(
        workflow_id="after-broken",
        ok=False,
        status="skipped",
        steps=(),
        outputs={},
        inputs={},
        elapsed_ms=0.0,
        error="dependsOn broken failed",
    )
    return RunResult(
        document="arazzo/totp-enrollment.arazzo.yaml",
        ok=False,
        workflows=(seed, broken, skipped),
        started_at=START,
        elapsed_ms=30100.0,
        warnings=("/workflows/0/steps/1: $response.body.a.b is not spec form",),
    )
