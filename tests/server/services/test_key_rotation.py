"""Signing-key rotation (``services.rotate_signing_key``): the new key signs, the JWKS serves the previous one
until its last JWT has expired, then retires it; with a frozen clock on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt as pyjwt
import pytest
from frozen_clock import FrozenClock
from sqlalchemy import select
from svc_totp_codes import code_for

from totpflow.server import errors, services
from totpflow.server.crypto import Cipher
from totpflow.server.domain.models import AuthResult, Project
from totpflow.server.services.keys import ROTATION_GRACE_SECONDS, ForeignMasterKey
from totpflow.server.storage.schema import signing_keys

LIFETIME = 300  # Policy.jwt_lifetime_seconds


def sign_in(deps: services.Deps, project: Project, clock: FrozenClock, email: str) -> AuthResult:
    user = services.create_user(deps, project, email=email)
    created = services.create_totp(deps, project, user_id=user.user_id)
    return services.authenticate_totp(
        deps,
        project,
        user_id=user.user_id,
        totp_code=code_for(created.secret, clock.now),
        session_duration_minutes=60,
    )


def kids(deps: services.Deps, project: Project) -> list[str]:
    return [k["kid"] for k in services.get_jwks(deps, project.project_id)]


def verify_with_jwks(deps: services.Deps, project: Project, token: str, clock: FrozenClock) -> dict[str, Any]:
    """What a relying party does: pick the key by ``kid`` from the served JWKS, check signature and claims."""
    jwks = pyjwt.PyJWKSet.from_dict({"keys": services.get_jwks(deps, project.project_id)})
    claims: dict[str, Any] = pyjwt.decode(
        token,
        jwks[pyjwt.get_unverified_header(token)["kid"]],
        algorithms=["RS256"],
        audience=project.project_id,
        issuer=f"stytch.com/{project.project_id}",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["exp"] > clock.now.timestamp()
    return claims


def test_rotation_serves_old_and_new_until_the_old_keys_last_jwt_expired(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    before = sign_in(deps, project, clock, "ada@example.com")
    [old_kid] = kids(deps, project)
    assert pyjwt.get_unverified_header(before.session_jwt)["kid"] == old_kid

    clock.advance(seconds=10)
    new_kid = services.rotate_signing_key(deps, project.project_id)
    assert new_kid != old_kid
    assert kids(deps, project) == [new_kid, old_kid]  # the signing key first

    # A JWT signed before the rotation still verifies through the JWKS, and still authenticates here.
    verify_with_jwks(deps, project, before.session_jwt, clock)
    assert services.authenticate_session(deps, project, session_jwt=before.session_jwt).session is not None
    # New JWTs are signed with the new key.
    after = sign_in(deps, project, clock, "bob@example.com")
    assert pyjwt.get_unverified_header(after.session_jwt)["kid"] == new_kid
    verify_with_jwks(deps, project, after.session_jwt, clock)

    # The last JWT the old key could have signed expires LIFETIME after the rotation (plus the grace for
    # requests in flight at that moment); until then the old key is served …
    clock.advance(seconds=LIFETIME + ROTATION_GRACE_SECONDS - 1)
    assert kids(deps, project) == [new_kid, old_kid]
    # … and then it is retired.
    clock.advance(seconds=1)
    assert kids(deps, project) == [new_kid]
    # A session whose old JWT can no longer be checked still authenticates with its token.
    with pytest.raises(errors.SessionNotFound):
        services.authenticate_session(deps, project, session_jwt=before.session_jwt)
    assert services.authenticate_session(deps, project, session_token=before.session_token).session


def test_rotating_twice_keeps_every_key_that_signed_within_the_lifetime(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    first = kids(deps, project)[0]
    second = services.rotate_signing_key(deps, project.project_id)
    clock.advance(seconds=120)
    third = services.rotate_signing_key(deps, project.project_id)
    assert kids(deps, project) == [third, second, first]
    clock.advance(seconds=LIFETIME + ROTATION_GRACE_SECONDS - 120)  # the first stopped signing this long ago
    assert kids(deps, project) == [third, second]
    clock.advance(seconds=120)
    assert kids(deps, project) == [third]


def test_rotation_before_any_key_and_of_an_unknown_project(deps: services.Deps, project: Project) -> None:
    kid = services.rotate_signing_key(deps, project.project_id)
    assert kids(deps, project) == [kid]
    with pytest.raises(errors.ProjectNotFound):
        services.rotate_signing_key(deps, "project-test-00000000-0000-4000-8000-000000000000")


def test_rotation_touches_only_its_project(deps: services.Deps, project: Project) -> None:
    other, _ = services.create_project(deps, name="Other")
    other_kids = kids(deps, other)
    services.rotate_signing_key(deps, project.project_id)
    assert kids(deps, other) == other_kids


def test_concurrent_rotations_each_add_a_generation(deps: services.Deps, project: Project) -> None:
    kids(deps, project)
    with ThreadPoolExecutor(max_workers=4) as pool:
        rotated = list(pool.map(lambda _: services.rotate_signing_key(deps, project.project_id), range(4)))
    with deps.store.engine.connect() as connection:
        rows = connection.execute(
            select(signing_keys.c.kid, signing_keys.c.generation, signing_keys.c.superseded_at)
            .where(signing_keys.c.project_id == project.project_id)
            .order_by(signing_keys.c.generation)
        ).all()
    assert [r.generation for r in rows] == [1, 2, 3, 4, 5]
    assert set(rotated) == {r.kid for r in rows[1:]}
    assert [r.superseded_at is None for r in rows] == [False, False, False, False, True]


def test_private_keys_stay_encrypted_at_rest(deps: services.Deps, project: Project) -> None:
    services.rotate_signing_key(deps, project.project_id)
    services.rotate_signing_key(deps, project.project_id)
    with deps.store.engine.connect() as connection:
        stored = connection.execute(select(signing_keys.c.private_key_enc)).scalars().all()
    assert len(stored) == 2
    for blob in stored:
        assert b"PRIVATE KEY" not in bytes(blob) and b"\x30\x82" not in bytes(blob)[:4]


def test_rotation_under_another_master_key_stores_nothing(deps: services.Deps, project: Project) -> None:
    before = kids(deps, project)
    foreign = dataclasses.replace(deps, cipher=Cipher(secrets.token_bytes(32)))
    with pytest.raises(ForeignMasterKey):
        services.rotate_signing_key(foreign, project.project_id)
    assert kids(deps, project) == before
