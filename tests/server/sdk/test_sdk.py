"""The official ``stytch`` SDK (15.x) against a real ``totpflow serve`` process, on SQLite and PostgreSQL.

The server runs with a user-lock threshold of 3 (``TOTPFLOW_LOCK_THRESHOLD``) so the lock test is short; every
other test uses its own user and stays below it. TOTP codes are computed with pyotp from the returned secret,
as an authenticator app would.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
import stytch
from serverkit import BACKENDS, Backend, create_project, start
from stytch.core.response_base import StytchError

LOCK_THRESHOLD = 3

# The SDK builds an aiohttp.BasicAuth for its async client, which aiohttp deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    env = {"TOTPFLOW_LOCK_THRESHOLD": str(LOCK_THRESHOLD)}
    with start(request.param, tmp_path_factory.mktemp(f"sdk-{request.param}"), env) as running:
        yield running


@pytest.fixture(scope="module")
def client(backend: Backend) -> stytch.Client:
    return backend.server.client()


def email() -> str:
    return f"sdk-{uuid.uuid4().hex[:10]}@example.com"


def code_now(secret: str) -> str:
    return str(pyotp.TOTP(secret).now())


def other_code(secret: str) -> str:
    """A well-formed code that is wrong now (no match in the accepted ±1 window)."""
    totp = pyotp.TOTP(secret)
    valid = {totp.at(time.time() + 30 * k) for k in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


def stytch_error(exc: pytest.ExceptionInfo[StytchError]) -> tuple[int, str | None]:
    return exc.value.details.status_code, exc.value.details.error_type


def enroll(client: stytch.Client) -> tuple[Any, Any]:
    user = client.users.create(email=email())
    totp = client.totps.create(user_id=user.user_id)
    return user, totp


def test_users_create_get_search_delete(client: stytch.Client) -> None:
    address = email()
    created = client.users.create(email=address, name={"first_name": "Ada", "last_name": "Lovelace"})
    assert created.status_code == 200
    assert created.email_id.startswith("email-test-") and created.phone_id == ""
    assert created.user.emails[0].email == address and created.user.status == "active"

    got = client.users.get(user_id=created.user_id)
    assert got.user_id == created.user_id and got.name is not None and got.name.first_name == "Ada"
    assert got.totps == [] and got.is_locked is False and got.roles

    query = {"operator": "AND", "operands": [{"filter_name": "email_address", "filter_value": [address]}]}
    found = client.users.search(query=query, limit=10)
    assert [u.user_id for u in found.results] == [created.user_id]
    assert found.results_metadata.total == 1

    deleted = client.users.delete(user_id=created.user_id)
    assert deleted.user_id == created.user_id
    with pytest.raises(StytchError) as exc:
        client.users.get(user_id=created.user_id)
    assert stytch_error(exc) == (404, "user_not_found")


def test_unknown_user_is_404(client: stytch.Client) -> None:
    with pytest.raises(StytchError) as exc:
        client.users.get(user_id="user-test-00000000-0000-4000-8000-000000000000")
    assert stytch_error(exc) == (404, "user_not_found")
    assert exc.value.details.error_message == "User could not be found."


def test_totp_enrollment_and_sessions(client: stytch.Client, backend: Backend) -> None:
    user, totp = enroll(client)
    assert totp.totp_id.startswith("totp-test-") and len(totp.secret) == 32
    assert totp.qr_code.startswith("data:image/png;base64, ") and len(totp.recovery_codes) == 10
    assert totp.user.totps[0].verified is False

    auth = client.totps.authenticate(
        user_id=user.user_id,
        totp_code=code_now(totp.secret),
        session_duration_minutes=60,
        session_custom_claims={"team": "blue"},
    )
    assert auth.totp_id == totp.totp_id and auth.session is not None
    assert auth.session.authentication_factors[0].authenticator_app_factor.totp_id == totp.totp_id
    assert auth.user.totps[0].verified is True
    session_id = auth.session.session_id

    again = client.sessions.authenticate(session_token=auth.session_token)
    assert again.session.session_id == session_id and again.session_jwt

    listed = client.sessions.get(user_id=user.user_id)
    assert [s.session_id for s in listed.sessions] == [session_id]

    jwks = client.sessions.get_jwks(project_id=backend.server.project_id)
    assert jwks.keys and jwks.keys[0].alg == "RS256"

    local = client.sessions.authenticate_jwt_local(session_jwt=auth.session_jwt)
    assert local is not None and local.session_id == session_id and local.custom_claims == {"team": "blue"}
    via_jwt = client.sessions.authenticate_jwt(session_jwt=again.session_jwt)
    assert via_jwt.session.session_id == session_id

    client.sessions.revoke(session_id=session_id)
    with pytest.raises(StytchError) as exc:
        client.sessions.authenticate(session_token=auth.session_token)
    assert stytch_error(exc) == (404, "session_not_found")
    assert client.sessions.get(user_id=user.user_id).sessions == []


def test_custom_claims_merge_as_the_guide_shows(client: stytch.Client) -> None:
    """Stytch's custom-claims guide: null deletes a key, and nested objects merge the same way, in the session
    and in its JWT."""
    user, totp = enroll(client)
    auth = client.totps.authenticate(
        user_id=user.user_id,
        totp_code=code_now(totp.secret),
        session_duration_minutes=60,
        session_custom_claims={"a": 1, "b": 2, "c": 3.5, "e": {"nested1": "val1", "nested2": "val2"}},
    )
    again = client.sessions.authenticate(
        session_token=auth.session_token,
        session_duration_minutes=60,
        session_custom_claims={"a": 10, "b": None, "e": {"nested1": None, "nested3": "val3"}},
    )
    expected = {"a": 10, "c": 3.5, "e": {"nested2": "val2", "nested3": "val3"}}
    assert again.session.custom_claims == expected
    local = client.sessions.authenticate_jwt_local(session_jwt=again.session_jwt)
    assert local is not None and local.custom_claims == expected


def test_an_empty_session_argument_is_not_given(client: stytch.Client) -> None:
    """A JWT-only authentication answers ``session_token: ""``; an app that keeps the last answer's token and
    JWT and sends both back is not refused for it, and ``""`` beside a duration still makes a session."""
    user, totp = enroll(client)
    first = client.totps.authenticate(
        user_id=user.user_id, totp_code=code_now(totp.secret), session_duration_minutes=60
    )
    refreshed = client.sessions.authenticate(session_jwt=first.session_jwt)
    assert refreshed.session_token == ""
    again = client.sessions.authenticate(
        session_token=refreshed.session_token, session_jwt=refreshed.session_jwt
    )
    assert again.session.session_id == first.session.session_id
    recovered = client.totps.recover(
        user_id=user.user_id,
        recovery_code=totp.recovery_codes[0],
        session_token="",
        session_duration_minutes=30,
    )
    assert recovered.session is not None and recovered.session.session_id != first.session.session_id
    assert client.sessions.revoke(session_id=first.session.session_id, session_token="").status_code == 200
    with pytest.raises(StytchError) as exc:
        client.sessions.authenticate(session_token="")
    assert stytch_error(exc) == (400, "no_session_arguments")


def test_a_zero_session_duration_is_not_given(client: stytch.Client) -> None:
    """``session_duration_minutes: 0`` is the zero value of Stytch's protobuf ``int32``, "not set" (Go's SDK
    omits it): no session is made and an existing one is not extended, on all three endpoints; 1-4 and
    negative durations stay 400 ``invalid_session_duration_minutes`` with one message on all three."""
    user, totp = enroll(client)
    auth = client.totps.authenticate(
        user_id=user.user_id, totp_code=code_now(totp.secret), session_duration_minutes=0
    )
    assert auth.session is None and auth.session_token == "" and auth.session_jwt == ""
    recovered = client.totps.recover(
        user_id=user.user_id, recovery_code=totp.recovery_codes[0], session_duration_minutes=0
    )
    assert recovered.session is None and recovered.session_token == "" and recovered.session_jwt == ""
    started = client.totps.recover(
        user_id=user.user_id, recovery_code=totp.recovery_codes[1], session_duration_minutes=60
    )
    kept = client.sessions.authenticate(session_token=started.session_token, session_duration_minutes=0)
    assert kept.session.session_id == started.session.session_id
    assert kept.session.expires_at == started.session.expires_at
    messages = set()
    for minutes in (4, -1, 527041):
        duration: dict[str, Any] = {"session_duration_minutes": minutes}
        for method, kwargs in [
            (client.totps.authenticate, {"user_id": user.user_id, "totp_code": "123456"}),
            (client.totps.recover, {"user_id": user.user_id, "recovery_code": "aaaa-bbbb-cccc"}),
            (client.sessions.authenticate, {"session_token": started.session_token}),
        ]:
            with pytest.raises(StytchError) as exc:
                method(**kwargs, **duration)
            assert stytch_error(exc) == (400, "invalid_session_duration_minutes")
            messages.add(exc.value.details.error_message)
    assert messages == {"session_duration_minutes is out of range (5 to 527040)."}


def test_authenticate_without_session(client: stytch.Client) -> None:
    user, totp = enroll(client)
    auth = client.totps.authenticate(user_id=user.user_id, totp_code=code_now(totp.secret))
    assert auth.session is None and auth.session_token == "" and auth.session_jwt == ""


def test_wrong_and_replayed_codes(client: stytch.Client) -> None:
    user, totp = enroll(client)
    with pytest.raises(StytchError) as exc:
        client.totps.authenticate(user_id=user.user_id, totp_code=other_code(totp.secret))
    assert stytch_error(exc) == (401, "unable_to_authenticate_totp")

    code = code_now(totp.secret)
    client.totps.authenticate(user_id=user.user_id, totp_code=code)
    with pytest.raises(StytchError) as exc:
        client.totps.authenticate(user_id=user.user_id, totp_code=code)
    assert stytch_error(exc) == (400, "totp_code_already_authenticated")


def test_lock_after_threshold_failures(client: stytch.Client) -> None:
    user, totp = enroll(client)
    wrong = other_code(totp.secret)
    for _ in range(LOCK_THRESHOLD):
        with pytest.raises(StytchError):
            client.totps.authenticate(user_id=user.user_id, totp_code=wrong)
    with pytest.raises(StytchError) as exc:
        client.totps.authenticate(user_id=user.user_id, totp_code=code_now(totp.secret))
    assert stytch_error(exc) == (429, "user_lock_limit_reached")
    locked = client.users.get(user_id=user.user_id)
    assert locked.is_locked is True and locked.lock_expires_at is not None


def test_recovery_codes_and_recover(client: stytch.Client) -> None:
    user, totp = enroll(client)
    client.totps.authenticate(user_id=user.user_id, totp_code=code_now(totp.secret))
    codes = client.totps.recovery_codes(user_id=user.user_id)
    assert codes.totps[0].totp_id == totp.totp_id
    assert set(codes.totps[0].recovery_codes) == set(totp.recovery_codes)

    code = totp.recovery_codes[0]
    recovered = client.totps.recover(user_id=user.user_id, recovery_code=code, session_duration_minutes=30)
    assert recovered.session is not None
    factor = recovered.session.authentication_factors[0]
    assert factor.type == "recovery_codes" and factor.recovery_code_factor is not None
    with pytest.raises(StytchError) as exc:
        client.totps.recover(user_id=user.user_id, recovery_code=code)
    assert stytch_error(exc) == (401, "unable_to_authenticate_recovery_code")


def test_delete_totp_then_create_again(client: stytch.Client) -> None:
    user, totp = enroll(client)
    with pytest.raises(StytchError) as exc:
        client.totps.create(user_id=user.user_id)
    assert stytch_error(exc) == (400, "active_totp_exists")
    deleted = client.users.delete_totp(totp_id=totp.totp_id)
    assert deleted.user_id == user.user_id and deleted.user.totps == []
    assert client.totps.create(user_id=user.user_id).totp_id != totp.totp_id


def test_other_project_sees_nothing(client: stytch.Client, backend: Backend) -> None:
    user, totp = enroll(client)
    project_id, secret = create_project(backend)
    other = stytch.Client(project_id=project_id, secret=secret, environment=backend.server.base_url + "/")
    with pytest.raises(StytchError) as exc:
        other.users.get(user_id=user.user_id)
    assert stytch_error(exc) == (404, "user_not_found")
    with pytest.raises(StytchError) as exc:
        other.totps.authenticate(user_id=user.user_id, totp_code=code_now(totp.secret))
    assert stytch_error(exc) == (404, "user_not_found")
    assert other.users.search().results == []


def test_wrong_secret_is_401(backend: Backend) -> None:
    wrong = stytch.Client(
        project_id=backend.server.project_id,
        secret="secret-test-wrong",
        environment=backend.server.base_url + "/",
    )
    with pytest.raises(StytchError) as exc:
        wrong.users.search()
    assert stytch_error(exc) == (401, "unauthorized_credentials")


def test_merged_custom_claims_are_held_to_the_4_kb_limit(client: stytch.Client) -> None:
    """Each request's claims fit, but what the session (and so its JWT) would carry once merged does not:
    refused as a whole, the session's claims as they were."""
    user, totp = enroll(client)
    auth = client.totps.authenticate(
        user_id=user.user_id,
        totp_code=code_now(totp.secret),
        session_duration_minutes=60,
        session_custom_claims={"a": "x" * 3000},
    )
    with pytest.raises(StytchError) as exc:
        client.sessions.authenticate(
            session_token=auth.session_token, session_custom_claims={"b": "y" * 3000}
        )
    assert stytch_error(exc) == (400, "custom_claims_too_large")
    again = client.sessions.authenticate(session_token=auth.session_token, session_custom_claims={"a": None})
    assert again.session.custom_claims == {}  # a merge that shrinks the claims is fine


def test_a_user_needs_an_email_or_a_phone_number_and_roles_need_ids(client: stytch.Client) -> None:
    with pytest.raises(StytchError) as exc:
        client.users.create()
    assert stytch_error(exc) == (400, "invalid_argument")
    assert "email or a phone_number is required" in exc.value.details.error_message
    for roles in ([""], ["admin", " "]):
        with pytest.raises(StytchError) as exc:
            client.users.create(email=f"{uuid.uuid4().hex}@example.com", roles=roles)
        assert stytch_error(exc) == (400, "empty_rbac_role_id")
