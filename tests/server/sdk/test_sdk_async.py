"""The official ``stytch`` Python SDK's async methods (``*_async``) against a real ``totpflow serve`` process,
on SQLite and PostgreSQL: every served method of the consumer ``users``, ``totps`` and ``sessions`` groups,
successes and errors (``test_sdk.py`` covers the sync twins; ``test_rbac_sdk.py`` and ``test_users_sdk.py``
cover ``rbac``, ``authorization_check`` and ``users.update`` both ways)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Iterator
from typing import Any, TypeVar

import pyotp
import pytest
import stytch
from serverkit import BACKENDS, Backend, start
from stytch.core.response_base import StytchError

# The SDK's own deprecated calls (aiohttp BasicAuth, pydantic's .dict()); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

T = TypeVar("T")
LOCK_THRESHOLD = 3
UNKNOWN_USER = "user-test-00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    env = {"TOTPFLOW_LOCK_THRESHOLD": str(LOCK_THRESHOLD)}
    with start(request.param, tmp_path_factory.mktemp(f"sdk-async-{request.param}"), env) as running:
        yield running


class Async:
    """A client and the one event loop its aiohttp session lives on."""

    def __init__(self, client: stytch.Client) -> None:
        self.client = client
        self.loop = asyncio.new_event_loop()

    def run(self, awaitable: Awaitable[T]) -> T:
        return self.loop.run_until_complete(awaitable)

    def fails(self, awaitable: Awaitable[Any]) -> tuple[int, str | None]:
        with pytest.raises(StytchError) as raised:
            self.run(awaitable)
        return raised.value.details.status_code, raised.value.details.error_type

    def close(self) -> None:
        self.run(self.client.close())
        self.loop.close()


@pytest.fixture
def sdk(backend: Backend) -> Iterator[Async]:
    running = Async(backend.server.client())
    try:
        yield running
    finally:
        running.close()


def email() -> str:
    return f"async-{uuid.uuid4().hex[:10]}@example.com"


def other_code(secret: str) -> str:
    totp = pyotp.TOTP(secret)
    valid = {totp.at(time.time() + 30 * k) for k in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


def enroll(sdk: Async) -> tuple[Any, Any]:
    users, totps = sdk.client.users, sdk.client.totps
    user = sdk.run(users.create_async(email=email()))
    return user, sdk.run(totps.create_async(user_id=user.user_id))


def test_users(sdk: Async) -> None:
    users = sdk.client.users
    address = email()
    created = sdk.run(users.create_async(email=address, name={"first_name": "Ada"}, roles=["editor"]))
    assert created.user.roles == ["stytch_user", "editor"] and created.phone_id == ""
    assert sdk.fails(users.create_async(email=address)) == (400, "duplicate_email")
    got = sdk.run(users.get_async(user_id=created.user_id))
    assert got.name is not None and got.name.first_name == "Ada" and got.emails[0].email == address
    query = {"operator": "AND", "operands": [{"filter_name": "email_address", "filter_value": [address]}]}
    found = sdk.run(users.search_async(query=query, limit=10))
    assert [u.user_id for u in found.results] == [created.user_id] and found.results_metadata.total == 1
    bad = {"operator": "AND", "operands": [{"filter_name": "no_such_filter", "filter_value": "x"}]}
    assert sdk.fails(users.search_async(query=bad)) == (400, "user_search_filter_name_not_recognized")
    assert sdk.run(users.delete_async(user_id=created.user_id)).user_id == created.user_id
    assert sdk.fails(users.get_async(user_id=created.user_id)) == (404, "user_not_found")
    assert sdk.fails(users.delete_async(user_id=UNKNOWN_USER)) == (404, "user_not_found")


def test_totps(sdk: Async) -> None:
    totps = sdk.client.totps
    user, totp = enroll(sdk)
    assert len(totp.secret) == 32 and len(totp.recovery_codes) == 10
    assert sdk.fails(totps.create_async(user_id=user.user_id)) == (400, "active_totp_exists")
    assert sdk.fails(totps.create_async(user_id=UNKNOWN_USER)) == (404, "user_not_found")
    wrong = totps.authenticate_async(user_id=user.user_id, totp_code=other_code(totp.secret))
    assert sdk.fails(wrong) == (401, "unable_to_authenticate_totp")
    code = pyotp.TOTP(totp.secret).now()
    auth = sdk.run(
        totps.authenticate_async(user_id=user.user_id, totp_code=code, session_duration_minutes=60)
    )
    assert auth.session is not None and auth.totp_id == totp.totp_id and len(auth.session_token) == 44
    replay = totps.authenticate_async(user_id=user.user_id, totp_code=code)
    assert sdk.fails(replay) == (400, "totp_code_already_authenticated")

    codes = sdk.run(totps.recovery_codes_async(user_id=user.user_id))
    assert set(codes.totps[0].recovery_codes) == set(totp.recovery_codes)
    recovered = sdk.run(
        totps.recover_async(
            user_id=user.user_id, recovery_code=totp.recovery_codes[0], session_duration_minutes=30
        )
    )
    assert recovered.session is not None
    assert recovered.session.authentication_factors[0].type == "recovery_codes"
    again = totps.recover_async(user_id=user.user_id, recovery_code=totp.recovery_codes[0])
    assert sdk.fails(again) == (401, "unable_to_authenticate_recovery_code")

    deleted = sdk.run(sdk.client.users.delete_totp_async(totp_id=totp.totp_id))
    assert deleted.user.totps == []
    assert sdk.fails(sdk.client.users.delete_totp_async(totp_id=totp.totp_id)) == (404, "totp_not_found")
    assert sdk.fails(totps.recovery_codes_async(user_id=user.user_id)) == (404, "totp_not_found")


def test_lock_after_threshold_failures(sdk: Async) -> None:
    totps = sdk.client.totps
    user, totp = enroll(sdk)
    for _ in range(LOCK_THRESHOLD):
        sdk.fails(totps.authenticate_async(user_id=user.user_id, totp_code=other_code(totp.secret)))
    locked = totps.authenticate_async(user_id=user.user_id, totp_code=pyotp.TOTP(totp.secret).now())
    assert sdk.fails(locked) == (429, "user_lock_limit_reached")


def test_sessions(sdk: Async, backend: Backend) -> None:
    sessions = sdk.client.sessions
    user, totp = enroll(sdk)
    auth = sdk.run(
        sdk.client.totps.authenticate_async(
            user_id=user.user_id,
            totp_code=pyotp.TOTP(totp.secret).now(),
            session_duration_minutes=60,
            session_custom_claims={"team": "blue"},
        )
    )
    session_id = auth.session.session_id
    by_token = sdk.run(sessions.authenticate_async(session_token=auth.session_token))
    assert by_token.session.session_id == session_id and by_token.session.roles == ["stytch_user"]
    by_jwt = sdk.run(sessions.authenticate_async(session_jwt=auth.session_jwt))
    assert by_jwt.session_token == "" and by_jwt.session_jwt
    both = sessions.authenticate_async(session_token=auth.session_token, session_jwt=auth.session_jwt)
    assert sdk.fails(both) == (400, "too_many_session_arguments")
    assert sdk.fails(sessions.authenticate_async(session_token="x" * 44)) == (404, "session_not_found")

    listed = sdk.run(sessions.get_async(user_id=user.user_id))
    assert [s.session_id for s in listed.sessions] == [session_id]
    assert sdk.fails(sessions.get_async(user_id=UNKNOWN_USER)) == (404, "user_not_found")

    jwks = sdk.run(sessions.get_jwks_async(project_id=backend.server.project_id))
    assert jwks.keys and jwks.keys[0].alg == "RS256"
    unknown_project = sessions.get_jwks_async(project_id="project-test-00000000-0000-4000-8000-000000000000")
    assert sdk.fails(unknown_project)[0] == 404

    local = sdk.run(sessions.authenticate_jwt_local_async(session_jwt=auth.session_jwt))
    assert local is not None and local.session_id == session_id and local.custom_claims == {"team": "blue"}
    via = sdk.run(sessions.authenticate_jwt_async(session_jwt=by_token.session_jwt))
    assert via.session.session_id == session_id
    forced = sdk.run(
        sessions.authenticate_jwt_async(session_jwt=by_token.session_jwt, max_token_age_seconds=0)
    )
    assert forced.session.session_id == session_id and forced.request_id  # answered by the server

    sdk.run(sessions.revoke_async(session_id=session_id))
    assert sdk.fails(sessions.authenticate_async(session_token=auth.session_token)) == (
        404,
        "session_not_found",
    )
    assert sdk.fails(sessions.revoke_async(session_id=session_id)) == (404, "session_not_found")
    assert sdk.fails(sessions.revoke_async()) == (400, "no_session_revoke_arguments")
    assert sdk.run(sessions.get_async(user_id=user.user_id)).sessions == []


def test_wrong_secret_is_401(backend: Backend) -> None:
    wrong = Async(
        stytch.Client(
            project_id=backend.server.project_id,
            secret="secret-test-wrong",
            environment=backend.server.base_url + "/",
        )
    )
    try:
        assert wrong.fails(wrong.client.users.search_async()) == (401, "unauthorized_credentials")
    finally:
        wrong.close()
