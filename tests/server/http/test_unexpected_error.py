"""An exception no handler takes becomes a Stytch 500 body; the log line quotes neither the exception's
message nor the request body (a driver's message can quote bound parameters)."""

from __future__ import annotations

import logging

import anyio
import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from totpflow.server.http.errors import CatchUnexpected


async def explode(request: Request) -> Response:
    value = (await request.json())["totp_code"]
    raise ValueError(f"INSERT failed [parameters: ({value!r},)]")


async def post(app: Starlette) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        return await client.post("/boom", content=b'{"totp_code": "top-secret-value"}')


def test_unexpected_exception_is_a_stytch_500(caplog: pytest.LogCaptureFixture) -> None:
    app = Starlette(
        routes=[Route("/boom", explode, methods=["POST"])], middleware=[Middleware(CatchUnexpected)]
    )
    with caplog.at_level(logging.ERROR, logger="totpflow.server.http"):
        response = anyio.run(post, app)
    assert response.status_code == 500
    body = response.json()
    assert body["status_code"] == 500 and body["error_type"] == "internal_server_error"
    assert body["request_id"].startswith("request-id-test-")
    assert "ValueError" in caplog.text and "/boom" in caplog.text
    assert "top-secret-value" not in caplog.text
    assert "top-secret-value" not in response.text
