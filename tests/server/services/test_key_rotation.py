"""Signing-key rollover (``services.rotate_signing_key``) with a frozen clock on SQLite and PostgreSQL: the
new key is published before it signs, the replaced key stays published and verifying for the retention
period, at most two keys are published outside a rollover, and an emergency rotation signs at once."""

from __future__ import annotations

import dataclasses
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import jwt as pyjwt
import pytest
from frozen_clock import FrozenClock
from sqlalchemy import select
from svc_totp_codes import code_for

from totpflow.server import errors, services
from totpflow.server.crypto import Cipher
from totpflow.server.domain.models import AuthResult, Project
from totpflow.server.errors import ForeignMasterKey, RotationPending
from totpflow.server.services.keys import ROTATION_GRACE_SECONDS, rotate_due_keys
from totpflow.server.storage.schema import signing_keys

LIFETIME = 300  # Policy.jwt_lifetime_seconds


def sign_in(
    deps: services.Deps, project: Project, clock: FrozenClock, email: str, minutes: int = 60
) -> AuthResult:
    user = services.create_user(deps, project, email=email)
    created = services.create_totp(deps, project, user_id=user.user_id)
    return services.authenticate_totp(
        deps,
        project,
        user_id=user.user_id,
        totp_code=code_for(created.secret, clock.now),
        session_duration_minutes=minutes,
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


HOUR = 3600
RETENTION_DAYS = 30  # Policy.key_retention


def kid_of(token: str) -> str:
    kid: str = pyjwt.get_unverified_header(token)["kid"]
    return kid


def test_rollover_publishes_first_signs_later_and_keeps_the_old_key_for_the_retention(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    before = sign_in(deps, project, clock, "ada@example.com")
    [old_kid] = kids(deps, project)
    assert kid_of(before.session_jwt) == old_kid

    rotation = services.rotate_signing_key(deps, project.project_id)
    assert rotation.replaces == old_kid and rotation.signs_from == clock.now + timedelta(hours=1)
    new_kid = rotation.kid
    assert kids(deps, project) == [old_kid, new_kid]  # published, not yet signing

    clock.advance(seconds=HOUR - 1)
    during = sign_in(deps, project, clock, "bob@example.com")
    assert kid_of(during.session_jwt) == old_kid
    with pytest.raises(RotationPending) as pending:
        services.rotate_signing_key(deps, project.project_id)
    assert pending.value.kid == new_kid and pending.value.signs_from == rotation.signs_from

    clock.advance(seconds=1)
    after = sign_in(deps, project, clock, "cy@example.com")
    assert kid_of(after.session_jwt) == new_kid
    assert kids(deps, project) == [new_kid, old_kid]
    for result in (during, after):
        verify_with_jwks(deps, project, result.session_jwt, clock)
    # The session of a JWT signed by the replaced key still authenticates with that JWT.
    assert services.authenticate_session(deps, project, session_jwt=during.session_jwt).session is not None

    clock.advance(days=RETENTION_DAYS, seconds=-1)
    assert kids(deps, project) == [new_kid, old_kid]
    clock.advance(seconds=1)
    assert kids(deps, project) == [new_kid]
    with pytest.raises(errors.SessionNotFound):  # a JWT of the retired key no longer names a session …
        services.authenticate_session(deps, project, session_jwt=before.session_jwt)


def test_at_most_two_keys_outside_a_rollover(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    first = kids(deps, project)[0]
    second = services.rotate_signing_key(deps, project.project_id).kid
    clock.advance(hours=2)
    third = services.rotate_signing_key(deps, project.project_id).kid
    assert kids(deps, project) == [second, third, first]  # during the rollover: three
    clock.advance(hours=1)
    # `first` stopped signing two hours ago: its JWTs have expired, so it is no longer published.
    assert kids(deps, project) == [third, second]


def test_emergency_rotation_signs_at_once(deps: services.Deps, project: Project, clock: FrozenClock) -> None:
    old = kids(deps, project)[0]
    rotation = services.rotate_signing_key(deps, project.project_id, publish_for=timedelta(0))
    assert rotation.signs_from == clock.now and rotation.replaces == old
    assert kids(deps, project) == [rotation.kid, old]
    assert kid_of(sign_in(deps, project, clock, "e@example.com").session_jwt) == rotation.kid


def test_emergency_rotation_during_a_rollover_supersedes_the_waiting_key(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    old = kids(deps, project)[0]
    waiting = services.rotate_signing_key(deps, project.project_id).kid
    clock.advance(minutes=10)
    urgent = services.rotate_signing_key(deps, project.project_id, publish_for=timedelta(0)).kid
    assert kid_of(sign_in(deps, project, clock, "u@example.com").session_jwt) == urgent
    assert kids(deps, project) == [urgent, waiting, old]
    clock.advance(seconds=LIFETIME + ROTATION_GRACE_SECONDS + 1)
    assert kids(deps, project)[0] == urgent and len(kids(deps, project)) == 2
    clock.advance(hours=2)  # the waiting key's own switch time has passed: it never signs
    assert kid_of(sign_in(deps, project, clock, "v@example.com").session_jwt) == urgent


def test_rotation_before_any_key_and_of_an_unknown_project(deps: services.Deps, project: Project) -> None:
    kid = services.rotate_signing_key(deps, project.project_id).kid
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
        rotated = list(
            pool.map(
                lambda _: services.rotate_signing_key(deps, project.project_id, publish_for=timedelta(0)).kid,
                range(4),
            )
        )
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


def test_periodic_rotation_starts_one_rollover_per_due_project(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    every = timedelta(days=90)
    other, _ = services.create_project(deps, name="Other")
    first = kids(deps, project)[0]
    clock.advance(days=10)
    kids(deps, other)  # the other project's first key is ten days younger
    clock.advance(days=80, seconds=-1)
    assert rotate_due_keys(deps, every) == []
    clock.advance(seconds=1)
    [rotation] = rotate_due_keys(deps, every)
    assert rotation.replaces == first and kids(deps, project) == [first, rotation.kid]
    assert rotate_due_keys(deps, every) == []  # under way: not started twice
    clock.advance(days=10)
    [other_rotation] = rotate_due_keys(deps, every)
    assert kids(deps, other)[1] == other_rotation.kid
    assert kids(deps, project) == [rotation.kid, first]


def test_two_rotations_in_a_row_keep_the_key_that_last_signed(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    """The second key is superseded the moment it takes over, so it signs nothing: the key kept for the
    retention beside the new signing key is the first, whose JWTs the live sessions hold."""
    before = sign_in(deps, project, clock, "ada@example.com")
    first = kid_of(before.session_jwt)
    second = services.rotate_signing_key(deps, project.project_id, publish_for=timedelta(0)).kid
    third = services.rotate_signing_key(deps, project.project_id, publish_for=timedelta(0)).kid
    assert kids(deps, project) == [third, second, first]
    clock.advance(seconds=LIFETIME + ROTATION_GRACE_SECONDS + 1)
    assert kids(deps, project) == [third, first]
    assert services.authenticate_session(deps, project, session_jwt=before.session_jwt).session is not None
    clock.advance(days=RETENTION_DAYS)
    assert kids(deps, project) == [third]


def test_a_key_no_longer_published_still_verifies_the_expired_jwts_of_live_sessions(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    """Two rotations that each signed (an emergency one, then another): the first key leaves the JWKS once
    its JWTs have expired, yet an expired JWT of a session still active is accepted whichever key signed it
    (stytch-api.md §4.7), for the retention."""
    before = sign_in(deps, project, clock, "ada@example.com", minutes=(RETENTION_DAYS + 10) * 24 * 60)
    first = kid_of(before.session_jwt)
    second = services.rotate_signing_key(deps, project.project_id, publish_for=timedelta(0)).kid
    clock.advance(seconds=2)
    third = services.rotate_signing_key(deps, project.project_id, publish_for=timedelta(0)).kid
    clock.advance(seconds=LIFETIME + ROTATION_GRACE_SECONDS + 1)
    assert kids(deps, project) == [third, second]
    again = services.authenticate_session(deps, project, session_jwt=before.session_jwt)
    assert again.session.session_id == before.session.session_id and kid_of(again.session_jwt) == third
    assert first not in kids(deps, project)  # verifying with it published nothing
    clock.advance(days=RETENTION_DAYS)
    with pytest.raises(errors.SessionNotFound):  # retired beyond the retention: no longer a key here
        services.authenticate_session(deps, project, session_jwt=before.session_jwt)
