"""Sessions created by TOTP/recovery, authenticated by token or JWT, revoked, listed; JWTs verify with
the JWKS."""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import jwt as pyjwt
import pytest
from frozen_clock import FrozenClock
from svc_totp_codes import code_for

from totpflow.server import errors, services
from totpflow.server.domain.models import AuthResult, Project, TotpCreated, User

SESSION_CLAIM = "https://stytch.com/session"


@pytest.fixture
def enrolled(deps: services.Deps, project: Project) -> tuple[User, TotpCreated]:
    user = services.create_user(deps, project, email="grace@example.com")
    return user, services.create_totp(deps, project, user_id=user.user_id)


@pytest.fixture
def signed_in(
    deps: services.Deps, project: Project, enrolled: tuple[User, TotpCreated], clock: FrozenClock
) -> AuthResult:
    user, created = enrolled
    return services.authenticate_totp(
        deps,
        project,
        user_id=user.user_id,
        totp_code=code_for(created.secret, clock.now),
        session_duration_minutes=60,
        session_custom_claims={"tier": "gold"},
    )


def _decode_with_jwks(deps: services.Deps, project: Project, token: str, *, verify_exp: bool = False) -> dict:  # type: ignore[type-arg]
    jwks = pyjwt.PyJWKSet.from_dict({"keys": services.get_jwks(deps, project.project_id)})
    key = jwks[pyjwt.get_unverified_header(token)["kid"]]
    return pyjwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=project.project_id,
        issuer=f"stytch.com/{project.project_id}",
        options={
            "verify_exp": verify_exp,
            "verify_iat": False,
            "verify_nbf": False,
            "require": ["aud", "iss", "exp", "iat", "nbf"],
        },
    )


def test_session_jwt_verifies_with_the_jwks(
    deps: services.Deps, project: Project, signed_in: AuthResult, clock: FrozenClock
) -> None:
    assert signed_in.session is not None
    assert len(signed_in.session_token) == 44
    claims = _decode_with_jwks(deps, project, signed_in.session_jwt)
    assert claims["sub"] == signed_in.user.user_id
    assert claims["tier"] == "gold"
    assert claims[SESSION_CLAIM]["id"] == signed_in.session.session_id
    assert claims[SESSION_CLAIM]["roles"] == ["stytch_user"]
    assert claims["exp"] - claims["iat"] == 300
    factor = claims[SESSION_CLAIM]["authentication_factors"][0]
    assert factor["authenticator_app_factor"]["totp_id"] == signed_in.totp_id


def test_jwks_is_stable_per_project(deps: services.Deps, project: Project) -> None:
    first = services.get_jwks(deps, project.project_id)
    assert services.get_jwks(deps, project.project_id) == first
    other, _ = services.create_project(deps, name="other")
    assert services.get_jwks(deps, other.project_id)[0]["kid"] != first[0]["kid"]
    with pytest.raises(errors.ProjectNotFound):
        services.get_jwks(deps, "project-test-00000000-0000-4000-8000-000000000000")


def test_authenticate_by_token_updates_last_access(
    deps: services.Deps, project: Project, signed_in: AuthResult, clock: FrozenClock
) -> None:
    clock.advance(minutes=10)
    result = services.authenticate_session(deps, project, session_token=signed_in.session_token)
    assert result.session is not None and signed_in.session is not None
    assert result.session.session_id == signed_in.session.session_id
    assert result.session.last_accessed_at == clock.now.replace(microsecond=0)
    assert result.session_token == signed_in.session_token
    assert result.session_jwt != signed_in.session_jwt
    assert result.session.custom_claims == {"tier": "gold"}


def test_expired_jwt_is_accepted_while_the_session_is_active(
    deps: services.Deps, project: Project, signed_in: AuthResult, clock: FrozenClock
) -> None:
    clock.advance(minutes=30)  # the JWT's exp (5 min) is long past, the session (60 min) is not
    result = services.authenticate_session(
        deps, project, session_jwt=signed_in.session_jwt, session_duration_minutes=120
    )
    assert result.session is not None
    assert result.session.expires_at == clock.now.replace(microsecond=0) + __import__("datetime").timedelta(
        minutes=120
    )
    assert result.session_token == ""  # only a hash of the token is stored
    fresh = _decode_with_jwks(deps, project, result.session_jwt)
    assert fresh["iat"] == int(clock.now.timestamp())


def test_expired_session_is_not_found(
    deps: services.Deps, project: Project, signed_in: AuthResult, clock: FrozenClock
) -> None:
    clock.advance(minutes=61)
    with pytest.raises(errors.SessionNotFound):
        services.authenticate_session(deps, project, session_token=signed_in.session_token)
    with pytest.raises(errors.SessionNotFound):
        services.authenticate_session(deps, project, session_jwt=signed_in.session_jwt)


def test_session_argument_rules(deps: services.Deps, project: Project, signed_in: AuthResult) -> None:
    with pytest.raises(errors.NoSessionArguments):
        services.authenticate_session(deps, project)
    with pytest.raises(errors.TooManySessionArguments):
        services.authenticate_session(
            deps, project, session_token=signed_in.session_token, session_jwt=signed_in.session_jwt
        )
    with pytest.raises(errors.InvalidSessionDuration):
        services.authenticate_session(
            deps, project, session_token=signed_in.session_token, session_duration_minutes=4
        )
    with pytest.raises(errors.InvalidCustomClaims):
        services.authenticate_session(
            deps, project, session_token=signed_in.session_token, session_custom_claims={"sub": "x"}
        )
    with pytest.raises(errors.SessionNotFound):
        services.authenticate_session(deps, project, session_token="A" * 44)
    with pytest.raises(errors.SessionNotFound):
        services.authenticate_session(deps, project, session_jwt="not.a.jwt")


def test_factor_added_to_existing_session(
    deps: services.Deps, project: Project, enrolled: tuple[User, TotpCreated], signed_in: AuthResult
) -> None:
    user, created = enrolled
    result = services.recover(
        deps,
        project,
        user_id=user.user_id,
        recovery_code=created.recovery_codes[0],
        session_token=signed_in.session_token,
        session_custom_claims={"tier": None, "k": 1},
    )
    assert result.session is not None and signed_in.session is not None
    assert result.session.session_id == signed_in.session.session_id
    assert {f.type for f in result.session.authentication_factors} == {"totp", "recovery_codes"}
    assert result.session.custom_claims == {"k": 1}
    assert result.session_token == signed_in.session_token


def test_revoke_and_list(
    deps: services.Deps, project: Project, enrolled: tuple[User, TotpCreated], signed_in: AuthResult
) -> None:
    user, _ = enrolled
    second = services.recover(
        deps,
        project,
        user_id=user.user_id,
        recovery_code=enrolled[1].recovery_codes[1],
        session_duration_minutes=5,
    )
    assert second.session is not None and signed_in.session is not None
    listed = services.get_sessions(deps, project, user_id=user.user_id)
    assert {s.session_id for s in listed} == {signed_in.session.session_id, second.session.session_id}
    with pytest.raises(errors.NoSessionRevokeArguments):
        services.revoke_session(deps, project)
    with pytest.raises(errors.TooManySessionRevokeArguments):
        services.revoke_session(deps, project, session_id="a", session_token="b")
    services.revoke_session(deps, project, session_jwt=signed_in.session_jwt)
    services.revoke_session(deps, project, session_id=second.session.session_id)
    assert services.get_sessions(deps, project, user_id=user.user_id) == []
    with pytest.raises(errors.SessionNotFound):
        services.authenticate_session(deps, project, session_token=signed_in.session_token)
    with pytest.raises(errors.SessionNotFound):
        services.revoke_session(deps, project, session_id=second.session.session_id)


def test_delete_user_revokes_sessions(
    deps: services.Deps, project: Project, enrolled: tuple[User, TotpCreated], signed_in: AuthResult
) -> None:
    user, _ = enrolled
    assert services.delete_user(deps, project, user.user_id) == user.user_id
    with pytest.raises(errors.SessionNotFound):
        services.authenticate_session(deps, project, session_token=signed_in.session_token)
    with pytest.raises(errors.UserNotFound):
        services.get_user(deps, project, user.user_id)


def test_a_revocation_committed_while_a_session_is_authenticated_fails_the_authentication(
    deps: services.Deps, project: Project, signed_in: AuthResult, database_url: str
) -> None:
    """Another connection revokes the session and holds its transaction open while ``authenticate_session``
    runs: the authentication waits for the row (PostgreSQL) or the write lock (SQLite), and once the
    revocation commits it fails instead of extending the revoked session and minting a JWT for it."""
    assert signed_in.session is not None
    session_id = signed_in.session.session_id
    revoke = "UPDATE sessions SET revoked_at = CURRENT_TIMESTAMP WHERE session_id = ?"
    if database_url.startswith("postgresql"):
        import psycopg

        other: Any = psycopg.connect(database_url)
        other.execute(revoke.replace("?", "%s"), (session_id,))
    else:
        other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute(revoke, (session_id,))
    outcome: list[object] = []

    def authenticate() -> None:
        try:
            services.authenticate_session(deps, project, session_token=signed_in.session_token)
            outcome.append("authenticated")
        except errors.ServerError as exc:
            outcome.append(type(exc))

    waiting = threading.Thread(target=authenticate)
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive()  # held up by the open revocation
    if isinstance(other, sqlite3.Connection):
        other.execute("COMMIT")
    else:
        other.commit()
    waiting.join(30)
    other.close()
    assert outcome == [errors.SessionNotFound]
