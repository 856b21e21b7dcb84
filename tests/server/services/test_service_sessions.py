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
from totpflow.server.crypto import Cipher, HashPurpose
from totpflow.server.domain import jwt as session_jwt_codec
from totpflow.server.domain.models import AuthResult, Project, TotpCreated, User
from totpflow.server.services import validation
from totpflow.server.storage.sessions import SessionQueries

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


# --- length limits of session arguments (docs/stytch-compatibility.md, "Length limits") ---------------------


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What finding a session by its arguments costs: each session-token hash, JWT header read and session
    lookup by id, in order."""
    seen: list[str] = []
    keyed_hash, unverified_kid = Cipher.keyed_hash, session_jwt_codec.unverified_kid
    by_id = SessionQueries.session_by_id

    def hashing(self: Cipher, purpose: HashPurpose, value: str) -> bytes:
        if purpose is HashPurpose.SESSION_TOKEN:
            seen.append("token hashed")
        return keyed_hash(self, purpose, value)

    def reading(token: str) -> str:
        seen.append("jwt decoded")
        return unverified_kid(token)

    def looking_up(self: SessionQueries, project_id: str, session_id: str) -> Any:
        seen.append("id looked up")
        return by_id(self, project_id, session_id)

    monkeypatch.setattr(Cipher, "keyed_hash", hashing)
    monkeypatch.setattr(session_jwt_codec, "unverified_kid", reading)
    monkeypatch.setattr(SessionQueries, "session_by_id", looking_up)
    return seen


def test_over_long_session_arguments_are_not_found_without_being_hashed_decoded_or_looked_up(
    deps: services.Deps,
    project: Project,
    enrolled: tuple[User, TotpCreated],
    signed_in: AuthResult,
    clock: FrozenClock,
    lookups: list[str],
) -> None:
    user, created = enrolled
    token, jwt = "A" * (validation.SESSION_TOKEN_LENGTH + 1), "A" * (validation.SESSION_JWT_LENGTH + 1)
    session_id = "s" * (validation.SESSION_ID_LENGTH + 1)
    refused: list[Any] = [
        lambda: services.authenticate_session(deps, project, session_token=token),
        lambda: services.authenticate_session(deps, project, session_jwt=jwt),
        lambda: services.revoke_session(deps, project, session_id=session_id),
        lambda: services.revoke_session(deps, project, session_token=token),
        lambda: services.revoke_session(deps, project, session_jwt=jwt),
        lambda: services.authenticate_totp(
            deps,
            project,
            user_id=user.user_id,
            totp_code=code_for(created.secret, clock.now),
            session_token=token,
        ),
        lambda: services.authenticate_totp(
            deps,
            project,
            user_id=user.user_id,
            totp_code=code_for(created.secret, clock.now),
            session_jwt=jwt,
        ),
    ]
    for call in refused:
        with pytest.raises(errors.SessionNotFound):
            call()
    assert lookups == []
    # at the limits, the same unknown values are looked for (and not found), as before
    for call in (
        lambda: services.authenticate_session(deps, project, session_token=token[1:]),
        lambda: services.revoke_session(deps, project, session_id=session_id[1:]),
        lambda: services.authenticate_session(deps, project, session_jwt=jwt[1:]),
    ):
        with pytest.raises(errors.SessionNotFound):
            call()
    assert lookups == ["token hashed", "id looked up", "jwt decoded"]
    assert services.authenticate_session(deps, project, session_token=signed_in.session_token).user.user_id


def test_the_longest_session_jwt_this_server_signs_is_accepted(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    """100 role ids of 128 characters outside the Basic Multilingual Plane (each escaped as a surrogate pair
    in the JWT, 12 characters) and 4,096 bytes of custom claims in two-byte characters (escaped as
    \\u00e9, three times longer): the JWT limit is above it."""
    roles = [f"{i:03d}" + "\U0001f600" * 125 for i in range(validation.MAX_ROLES)]
    user = services.create_user(deps, project, email="longest-jwt@example.com", roles=roles)
    created = services.create_totp(deps, project, user_id=user.user_id)
    claims = {"c": "\u00e9" * 2044}  # 4,094 bytes as compact UTF-8 JSON
    signed_in = services.authenticate_totp(
        deps,
        project,
        user_id=user.user_id,
        totp_code=code_for(created.secret, clock.now),
        session_duration_minutes=60,
        session_custom_claims=claims,
    )
    assert 200_000 < len(signed_in.session_jwt) <= validation.SESSION_JWT_LENGTH
    again = services.authenticate_session(deps, project, session_jwt=signed_in.session_jwt)
    assert again.session is not None and again.session.custom_claims == claims
    services.revoke_session(deps, project, session_jwt=again.session_jwt)
