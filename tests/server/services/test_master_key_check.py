"""A process whose master key is not the store's is refused before it writes (``services.master_key``), on
SQLite and PostgreSQL: a project created or re-keyed so could never be used, and its old secret would be
gone."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import delete, func, select

from totpflow.server import errors, services
from totpflow.server.crypto import Cipher
from totpflow.server.domain.models import Project
from totpflow.server.services.master_key import verify_master_key
from totpflow.server.storage.schema import master_key_check, projects


def _other(deps: services.Deps) -> services.Deps:
    return services.Deps(store=deps.store, clock=deps.clock, cipher=Cipher(secrets.token_bytes(32)))


def _project_count(deps: services.Deps) -> int:
    with deps.store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(projects)).scalar_one())


def test_another_key_creates_and_re_keys_nothing(
    deps: services.Deps, project_and_secret: tuple[Project, str]
) -> None:
    project, secret = project_and_secret
    other = _other(deps)
    with pytest.raises(errors.MasterKeyError):
        services.reset_project_secret(other, project.project_id)
    with pytest.raises(errors.MasterKeyError):
        services.create_project(other, name="Other")
    with pytest.raises(errors.MasterKeyError):
        services.ensure_project(other, project_id=project.project_id, secret="s" * 40)
    with pytest.raises(errors.MasterKeyError):
        verify_master_key(other)
    assert _project_count(deps) == 1
    assert services.authenticate_project(deps, project.project_id, secret).project_id == project.project_id
    verify_master_key(deps)


def _without_check(deps: services.Deps) -> None:
    """As a store written before the check existed."""
    with deps.store.engine.begin() as connection:
        connection.execute(delete(master_key_check))


@pytest.mark.parametrize("holds", ["a-signing-key", "a-totp-secret"])
def test_a_store_without_the_check_is_judged_by_what_it_holds(
    deps: services.Deps, project: Project, holds: str
) -> None:
    if holds == "a-signing-key":
        services.get_jwks(deps, project.project_id)  # the project's first signing key
    else:
        user = services.create_user(deps, project, email="ada@example.com")
        services.create_totp(deps, project, user_id=user.user_id)
    _without_check(deps)
    with pytest.raises(errors.MasterKeyError):
        verify_master_key(_other(deps))
    with deps.store.engine.connect() as connection:  # refused: nothing written
        assert connection.execute(select(func.count()).select_from(master_key_check)).scalar_one() == 0
    verify_master_key(deps)  # the store's key: the check is written, and holds from then on
    with pytest.raises(errors.MasterKeyError):
        verify_master_key(_other(deps))


def test_a_store_whose_oldest_project_has_no_signing_key_is_still_checked(deps: services.Deps) -> None:
    services.create_project(deps, name="A")
    second, _ = services.create_project(deps, name="B")
    services.get_jwks(deps, second.project_id)
    _without_check(deps)
    with pytest.raises(errors.MasterKeyError):
        verify_master_key(_other(deps))
