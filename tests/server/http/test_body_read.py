"""Reading a request body: a client that goes away before its body is complete, or sends it too slowly, gets a
Stytch 4xx and is never a 500; the field a wrongly typed body is refused for is the one the decode stopped at.

The request is a real Starlette ``Request`` fed by an ASGI ``receive`` that behaves as uvicorn's does."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest
from starlette.requests import Request

from totpflow.server.http import body
from totpflow.server.http.errors import BodyIncomplete, BodyTimeout, BodyTooLarge, MalformedBody, lookup
from totpflow.server.http.requests import AuthenticateTotpRequest

Receive = Callable[[], Awaitable[dict[str, Any]]]


def request(receive: Receive, length: int) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/users",
        "headers": [(b"content-length", str(length).encode())],
    }
    return Request(scope, receive)


def part_then(ending: str) -> Receive:
    """Part of a body, then the client goes away (``disconnect``) or sends nothing more (``silence``)."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b'{"email":', "more_body": True}
        if ending == "silence":
            await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    return receive


def test_a_client_gone_before_its_body_is_complete_is_a_400() -> None:
    with pytest.raises(BodyIncomplete) as raised:
        asyncio.run(body.read_body(request(part_then("disconnect"), 100)))
    assert lookup(raised.value)[:2] == (400, "bad_request")


def test_a_body_that_does_not_arrive_in_time_is_a_408() -> None:
    with pytest.raises(BodyTimeout) as raised:
        asyncio.run(body.read_body(request(part_then("silence"), 100), timeout=0.2))
    assert lookup(raised.value)[:2] == (408, "request_timeout")


def test_a_body_over_the_limit_is_a_413_as_it_arrives() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"x" * 600, "more_body": True}

    with pytest.raises(BodyTooLarge):
        asyncio.run(body.read_body(request(receive, 0), limit=1000))


@pytest.mark.parametrize(
    ("sent", "named"),
    [
        ({"user_id": True, "totp_code": False, "session_token": True}, "user_id"),
        ({"session_token": 1, "user_id": "u", "totp_code": "123456"}, "session_token"),
        ({"totp_code": 5, "user_id": True}, "totp_code"),
        ({"session_duration_minutes": 60}, "user_id"),  # the fields present pass; a required one is absent
    ],
)
def test_the_field_named_is_the_one_the_decode_refused_first(sent: dict[str, Any], named: str) -> None:
    raw = msgspec.json.encode(sent)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    with pytest.raises(MalformedBody) as raised:
        asyncio.run(body.decode(request(receive, len(raw)), AuthenticateTotpRequest))
    assert raised.value.detail.startswith(f"the field `{named}` ")
