"""The field a malformed request body is refused for, found from the request Struct's own field list
(``http.body.offending_field``), so the error message names it whatever the decoder's wording."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.requests import Request

from totpflow.server.http import requests
from totpflow.server.http.body import decode, offending_field
from totpflow.server.http.errors import MalformedBody

CASES: list[tuple[str, type[Any], dict[str, Any], str | None]] = [
    ("well-formed", requests.AuthenticateTotpRequest, {"user_id": "u", "totp_code": "123456"}, None),
    ("required-missing", requests.RecoverRequest, {"recovery_code": "aaaa-bbbb-cccc"}, "user_id"),
    ("required-null", requests.RecoverRequest, {"user_id": None, "recovery_code": "x"}, "user_id"),
    ("wrong-type", requests.CreateUserRequest, {"email": 5}, "email"),
    (
        "bool-for-int",
        requests.AuthenticateTotpRequest,
        {"user_id": "u", "totp_code": "1", "session_duration_minutes": True},
        "session_duration_minutes",
    ),
    (
        "nested-wrong-type",
        requests.CreateUserRequest,
        {"email": "a@example.com", "name": {"first_name": 1}},
        "name.first_name",
    ),
    (
        "nested-required",
        requests.AuthenticateSessionRequest,
        {"session_token": "t", "authorization_check": {}},
        "authorization_check.resource_id",
    ),
    ("nested-not-an-object", requests.CreateUserRequest, {"email": "a@example.com", "name": "Ada"}, "name"),
    (
        "unknown-fields-ignored",
        requests.CreateUserRequest,
        {"email": "a@example.com", "telemetry_id": 1},
        None,
    ),
]


@pytest.mark.parametrize(
    ("type_", "data", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_offending_field(type_: type[Any], data: dict[str, Any], expected: str | None) -> None:
    assert offending_field(data, type_) == expected


def decoded(raw: bytes) -> str:
    """The message ``decode`` refuses ``raw`` with, as the body of a create-user request."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        sent = True
        return {"type": "http.request", "body": raw, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/v1/users", "headers": [], "query_string": b""}
    with pytest.raises(MalformedBody) as refused:
        asyncio.run(decode(Request(scope, receive), requests.CreateUserRequest))
    return str(refused.value)


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        (b'{"email": 5}', "`email`"),
        (b'{"email": 5, "name": }', "not valid JSON"),  # refused at `email`, broken further on
        (b'{"email": 5, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b"[]", "JSON object"),
    ],
    ids=["field", "broken-after-a-refused-field", "deep-after-a-refused-field", "not-an-object"],
)
def test_the_message_of_a_refused_body(raw: bytes, names: str) -> None:
    assert names in decoded(raw)
