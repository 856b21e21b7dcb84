"""The one error table: every server error class has its own row; rendering gives the Stytch error body."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import msgspec
import pytest

from totpflow.server import errors
from totpflow.server.http import errors as http_errors

SERVER_ERRORS = [
    cls
    for module in (errors, http_errors)
    for _, cls in inspect.getmembers(module, inspect.isclass)
    if issubclass(cls, errors.ServerError) and cls.__module__ == module.__name__
]


def build(cls: type[errors.ServerError]) -> errors.ServerError:
    if cls is errors.InvalidRbacPolicy:
        return errors.InvalidRbacPolicy(["roles[0].role_id: a reason"])
    if issubclass(cls, (errors.ValueTooLong, errors.TooManyRoles)):
        return cls("some_field", 1024)
    if issubclass(cls, errors.InvalidArgument):
        return cls("some_field", "a reason")
    if cls is errors.RotationPending:
        return errors.RotationPending("jwk-test-a", datetime.now(UTC))
    return cls("a detail")


@pytest.mark.parametrize("cls", SERVER_ERRORS, ids=lambda c: c.__name__)
def test_every_error_class_has_its_own_row(cls: type[errors.ServerError]) -> None:
    assert cls in http_errors.ERROR_TABLE


@pytest.mark.parametrize("cls", SERVER_ERRORS, ids=lambda c: c.__name__)
def test_rendered_body_is_the_stytch_error_body(cls: type[errors.ServerError]) -> None:
    body = msgspec.to_builtins(http_errors.error_body(build(cls)))
    status, error_type, _ = http_errors.ERROR_TABLE[cls]
    assert set(body) == {"status_code", "request_id", "error_type", "error_message", "error_url"}
    assert body["status_code"] == status and body["error_type"] == error_type
    assert body["request_id"].startswith("request-id-test-")
    assert body["error_url"] == f"https://stytch.com/docs/api/errors/{status}#{error_type}"
    assert "{" not in body["error_message"] and body["error_message"].strip()


def test_reason_never_reaches_the_message() -> None:
    """A service's ``reason`` may quote what the client sent; only the field name is shown."""
    body = http_errors.error_body(errors.InvalidArgument("limit", "got 'hunter2'"))
    assert "hunter2" not in body.error_message and "limit" in body.error_message


def test_lookup_walks_the_mro() -> None:
    class Unlisted(errors.UserNotFound):
        pass

    assert http_errors.lookup(Unlisted()) == http_errors.ERROR_TABLE[errors.UserNotFound]


def test_documented_messages() -> None:
    """Exact messages Stytch documents (stytch-api.md §5.2)."""
    table = http_errors.ERROR_TABLE
    assert table[errors.UnauthorizedCredentials] == (
        401,
        "unauthorized_credentials",
        "Unauthorized credentials.",
    )
    assert table[errors.UserNotFound] == (404, "user_not_found", "User could not be found.")
    assert table[errors.SessionNotFound] == (404, "session_not_found", "Session could not be found.")
    assert table[errors.InvalidUserId] == (400, "invalid_user_id", "user_id format is invalid.")
    assert table[errors.BadRequest] == (400, "bad_request", "The submitted request is invalid.")
    assert table[errors.UserLockLimitReached][:2] == (429, "user_lock_limit_reached")
