"""Structured request logs of ``totpflow serve``: one line per request with request_id, method, route
template, status, latency and the authenticated project, and never a secret, code or token, whatever the
request held.

A full flow (create user, TOTP, authenticate with a session, recover, session authenticate with the token and
with the JWT, revoke) runs against a real server process; its stderr is read once the process has stopped.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyotp
import pytest
from serverkit import start

Expected = tuple[str, str, int, str | None, bool]  # method, route ("" for none), status, request_id, authed


def server_log(directory: Path, base_url: str) -> str:
    port = urlsplit(base_url).port
    return (directory / f"server-{port}.log").read_text()


def access_lines(log: str) -> list[dict[str, Any]]:
    """The request lines (the server's own messages, in the same format, have a ``logger`` instead)."""
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    return [line for line in lines if "request_id" in line]


def run_flow(client: httpx.Client, project_id: str) -> tuple[list[str], list[Expected]]:
    """Drive every kind of request; returns the secret values seen and what each request's line must say, in
    order."""
    secrets: list[str] = []
    expected: list[Expected] = []

    def call(
        method: str, url: str, route: str | None, status: int, *, authed: bool = True, **kwargs: Any
    ) -> dict[str, Any]:
        response = client.request(method, url, **kwargs)
        assert response.status_code == status, response.text
        body: dict[str, Any] = response.json()
        expected.append((method, route or "", status, body.get("request_id"), authed))
        return body

    email = f"log-{uuid.uuid4().hex[:8]}@example.com"
    user = call("POST", "/v1/users", "/v1/users", 200, json={"email": email})
    user_id = user["user_id"]
    call("GET", f"/v1/users/{user_id}", "/v1/users/{user_id}", 200)
    totp = call("POST", "/v1/totps", "/v1/totps", 200, json={"user_id": user_id})
    secrets += [totp["secret"], *totp["recovery_codes"]]
    code = pyotp.TOTP(totp["secret"]).now()
    secrets.append(code)
    auth = call(
        "POST",
        "/v1/totps/authenticate",
        "/v1/totps/authenticate",
        200,
        json={"user_id": user_id, "totp_code": code, "session_duration_minutes": 60},
    )
    secrets += [auth["session_token"], auth["session_jwt"]]
    recovered = call(
        "POST",
        "/v1/totps/recover",
        "/v1/totps/recover",
        200,
        json={
            "user_id": user_id,
            "recovery_code": totp["recovery_codes"][0],
            "session_token": auth["session_token"],
        },
    )
    secrets.append(recovered["session_jwt"])
    listed = call(
        "POST", "/v1/totps/recovery_codes", "/v1/totps/recovery_codes", 200, json={"user_id": user_id}
    )
    assert listed["totps"][0]["recovery_codes"]
    by_token = call(
        "POST",
        "/v1/sessions/authenticate",
        "/v1/sessions/authenticate",
        200,
        json={"session_token": auth["session_token"], "session_custom_claims": {"k": "v"}},
    )
    secrets.append(by_token["session_jwt"])
    call(
        "POST",
        "/v1/sessions/authenticate",
        "/v1/sessions/authenticate",
        200,
        json={"session_jwt": auth["session_jwt"]},
    )
    # A session token in a query string, and wrong codes in bodies, are not logged either.
    call("GET", f"/v1/sessions?user_id={user_id}&session_token={auth['session_token']}", "/v1/sessions", 200)
    call(
        "POST",
        "/v1/totps/authenticate",
        "/v1/totps/authenticate",
        401,
        json={"user_id": user_id, "totp_code": "987654"},
    )
    secrets.append("987654")
    call("GET", f"/v1/sessions/jwks/{project_id}", "/v1/sessions/jwks/{project_id}", 200, authed=False)
    call(
        "POST",
        "/v1/sessions/revoke",
        "/v1/sessions/revoke",
        200,
        json={"session_jwt": by_token["session_jwt"]},
    )
    call("GET", f"/v1/no-such-route/{auth['session_token']}", None, 404, authed=False)
    wrong = "Basic " + base64.b64encode(b"project-test-x:not-the-secret").decode()
    call("POST", "/v1/users", "/v1/users", 401, authed=False, json={}, headers={"Authorization": wrong})
    secrets.append("not-the-secret")
    return secrets, expected


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_request_log_has_one_line_per_request_and_no_secret(log_format: str, tmp_path: Path) -> None:
    with start("sqlite", tmp_path, {"TOTPFLOW_LOG_FORMAT": log_format}) as running:
        server = running.server
        header = f"Basic {base64.b64encode(f'{server.project_id}:{server.secret}'.encode()).decode()}"
        with httpx.Client(base_url=server.base_url, headers={"Authorization": header}) as client:
            secrets, expected = run_flow(client, server.project_id)
        base_url = server.base_url
    log = server_log(tmp_path, base_url)  # the server has stopped: every line is written

    for value in [*secrets, server.secret, header, header.split()[1]]:
        assert value not in log
    assert "?" not in log and "no-such-route" not in log

    if log_format == "text":
        # Lines of the launcher's readiness probes (GET /openapi.json) come first.
        lines = [
            line for line in log.splitlines() if "request-id-test-" in line and "/openapi.json" not in line
        ]
        assert len(lines) == len(expected)
        for line, (method, route, status, request_id, authed) in zip(lines, expected, strict=True):
            project = server.project_id if authed else "-"
            assert re.fullmatch(
                rf"\S+Z {request_id} {method} {re.escape(route or '-')} {status} [0-9.]+ms {project}", line
            ), line
        return

    records = [r for r in access_lines(log) if r["route"] != "/openapi.json"]
    assert len(records) == len(expected)
    for record, (method, route, status, request_id, authed) in zip(records, expected, strict=True):
        assert set(record) == {"ts", "request_id", "method", "route", "status", "latency_ms", "project_id"}
        assert (record["method"], record["route"] or "", record["status"]) == (method, route, status)
        assert record["request_id"] == request_id  # the same id as in the response body
        assert isinstance(record["latency_ms"], float) and record["latency_ms"] >= 0
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["ts"])
        # The project only once its credentials were verified (never for JWKS, an unknown route or a wrong
        # secret).
        assert record["project_id"] == (server.project_id if authed else None)


def test_quiet_writes_no_request_log(tmp_path: Path) -> None:
    with start("sqlite", tmp_path, {"TOTPFLOW_LOG_FORMAT": "off"}) as running:
        httpx.get(f"{running.server.base_url}/v1/sessions/jwks/{running.server.project_id}")
        base_url = running.server.base_url
    assert "request-id-test-" not in server_log(tmp_path, base_url)
