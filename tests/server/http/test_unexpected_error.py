"""An exception no handler takes becomes a Stytch 500 body, and the log line quotes neither its message nor the
request body (a driver's message can quote bound parameters)."""

from __future__ import annotations

import logging

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from totpflow.server.http.errors import CatchUnexpected


async def explode(request: Request) -> Response:
    await request.body()
    raise ValueError("INSERT failed [parameters: ('top-secret-value',)]")


def test_unexpected_exception_is_a_stytch_500(caplog: pytest.LogCaptureFixture) -> None:
    app = Starlette(
        routes=[Route("/boom", explode, methods=["POST"])], middleware=[Middleware(CatchUnexpected)]
    )
    with caplog.at_level(logging.ERROR, logger="totpflow.server.http"):
        response = TestClient(app).post("/boom", content=b'{"totp_code": "123456"}')
    assert response.status_code == 500
    body = response.json()
    assert body["status_code"] == 500 and body["error_type"] == "internal_server_error"
    assert body["request_id"].startswith("request-id-test-")
    assert "ValueError" in caplog.text and "/boom" in caplog.text
    assert "top-secret-value" not in caplog.text and "123456" not in caplog.text
    assert "top-secret-value" not in response.text
