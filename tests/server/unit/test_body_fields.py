"""The field a malformed request body is refused for, found from the request Struct's own field list
(``http.body.offending_field``), so the error message names it whatever the decoder's wording."""

from __future__ import annotations

from typing import Any

import pytest

from totpflow.server.http import requests
from totpflow.server.http.body import offending_field

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
