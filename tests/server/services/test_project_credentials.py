"""``services.run_as``: a remembered credential is confirmed in the request's first transaction, so what
another process changed (a second ``Store`` on the same database stands for it) is seen by the next
request: a reset secret is refused, a renamed project is used, a rotated key signs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import jwt as pyjwt
import pytest
from frozen_clock import FrozenClock
from svc_totp_codes import code_for

from totpflow.server import errors, services
from totpflow.server.domain.models import Project
from totpflow.server.storage import open_store


@pytest.fixture
def other(database_url: str, deps: services.Deps) -> Iterator[services.Deps]:
    """The same database through a store of its own, as another process has it."""
    store = open_store(database_url, migrate=False)
    try:
        yield replace(deps, store=store)
    finally:
        store.dispose()


@pytest.fixture
def credential(deps: services.Deps, project_and_secret: tuple[Project, str]) -> services.Credential:
    project, secret = project_and_secret
    services.authenticate_project(deps, project.project_id, secret)
    remembered = services.remembered_credential(deps, project.project_id, secret)
    assert remembered is not None
    return remembered


def test_a_secret_reset_elsewhere_is_refused_by_the_next_call(
    deps: services.Deps,
    other: services.Deps,
    credential: services.Credential,
    project_and_secret: tuple[Project, str],
) -> None:
    project, old = project_and_secret
    services.run_as(deps, credential, services.create_user, email="before@example.com")
    new = services.reset_project_secret(other, project.project_id)
    # Still remembered here (the hint), refused by the first transaction, which rolls back before writing.
    assert services.remembered_credential(deps, project.project_id, old) is not None
    with pytest.raises(errors.UnauthorizedCredentials):
        services.run_as(deps, credential, services.create_user, email="after@example.com")
    # A call that fails before it opens a transaction is refused for its credential, not its arguments.
    with pytest.raises(errors.UnauthorizedCredentials):
        services.run_as(deps, credential, services.create_user, email="not an email")
    # Forgotten: the next request with this project id is checked against the database, then remembered.
    assert services.remembered_credential(deps, project.project_id, old) is None
    assert services.remembered_credential(deps, project.project_id, new) is None
    with pytest.raises(errors.UnauthorizedCredentials):
        services.authenticate_credential(deps, project.project_id, old)
    fresh = services.authenticate_credential(deps, project.project_id, new)
    assert services.remembered_credential(deps, project.project_id, new) == fresh
    # Nothing of the refused call was written: its email is still free.
    assert services.run_as(deps, fresh, services.create_user, email="after@example.com").emails


def test_a_project_renamed_elsewhere_is_used_by_the_next_call(
    deps: services.Deps,
    other: services.Deps,
    credential: services.Credential,
    project_and_secret: tuple[Project, str],
) -> None:
    project, secret = project_and_secret
    renamed = services.ensure_project(other, project_id=project.project_id, secret=secret, name="Renamed")
    user = services.run_as(deps, credential, services.create_user, email="qr@example.com")
    seen: list[Project] = []

    def issuer(deps_: services.Deps, project_: Project) -> None:
        services.get_user(deps_, project_, user.user_id)
        seen.append(project_)

    services.run_as(deps, credential, issuer)
    assert seen[-1] == renamed


def test_a_key_rotated_elsewhere_signs_the_next_jwt(
    deps: services.Deps, other: services.Deps, credential: services.Credential, clock: FrozenClock
) -> None:
    quiet = replace(deps, policy=replace(deps.policy, rate_limit_user=None, rate_limit_project=None))
    user = services.run_as(quiet, credential, services.create_user, email="keys@example.com")
    created = services.run_as(quiet, credential, services.create_totp, user_id=user.user_id)
    first = services.run_as(
        quiet,
        credential,
        services.authenticate_totp,
        user_id=user.user_id,
        totp_code=code_for(created.secret, clock()),
        session_duration_minutes=60,
    )

    def kid_now() -> str:
        result = services.run_as(
            quiet, credential, services.authenticate_session, session_token=first.session_token
        )
        kid: str = pyjwt.get_unverified_header(result.session_jwt)["kid"]
        return kid

    before = kid_now()
    assert kid_now() == before  # remembered
    rotation = services.rotate_signing_key(other, credential.project.project_id, publish_for=timedelta(0))
    assert rotation.kid != before
    assert kid_now() == rotation.kid


def test_no_store_of_another_database_shares_what_is_remembered(
    deps: services.Deps, credential: services.Credential, tmp_path: Path
) -> None:
    """The memory is per store: the same project id in another database is checked there."""
    elsewhere = open_store(f"sqlite:///{tmp_path}/elsewhere.db")
    try:
        with pytest.raises(errors.UnauthorizedCredentials):
            services.run_as(
                replace(deps, store=elsewhere), credential, services.create_user, email="x@example.com"
            )
    finally:
        elsewhere.dispose()
