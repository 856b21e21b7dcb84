"""RBAC in the services: the policy per project, roles in sessions and JWTs as of the last authentication, and
``authorization_check`` on ``authenticate_session`` (allow, deny, unknown resource or action, role added,
policy changed, unreadable policy), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
import yaml
from frozen_clock import FrozenClock
from svc_totp_codes import code_for

from totpflow.server import errors, services
from totpflow.server.domain import rbac
from totpflow.server.domain.models import AuthResult, NameUpdate, Project
from totpflow.server.services import AuthorizationCheck
from totpflow.server.storage.records import UserChanges

DATA = Path(__file__).parents[1] / "data" / "rbac"
SESSION_CLAIM = "https://stytch.com/session"


def document(name: str) -> Any:
    return yaml.safe_load((DATA / name).read_text(encoding="utf-8"))


def sign_in(deps: services.Deps, project: Project, clock: FrozenClock, roles: list[str]) -> AuthResult:
    user = services.create_user(deps, project, email=f"{'-'.join(roles) or 'plain'}@example.com", roles=roles)
    created = services.create_totp(deps, project, user_id=user.user_id)
    return services.authenticate_totp(
        deps,
        project,
        user_id=user.user_id,
        totp_code=code_for(created.secret, clock.now),
        session_duration_minutes=60,
    )


def check(deps: services.Deps, project: Project, token: str, resource_id: str, action: str) -> AuthResult:
    return services.authenticate_session(
        deps, project, session_token=token, authorization_check=AuthorizationCheck(resource_id, action)
    )


def roles_in_jwt(token: str) -> list[str]:
    claims = pyjwt.decode(token, options={"verify_signature": False})
    return list(claims[SESSION_CLAIM]["roles"])


@pytest.fixture
def with_policy(deps: services.Deps, project: Project) -> Project:
    services.set_rbac_policy(deps, project.project_id, document("policy.yaml"))
    return project


def test_project_without_policy_has_only_stytch_user(deps: services.Deps, project: Project) -> None:
    assert services.get_rbac_policy(deps, project) == rbac.DEFAULT_POLICY


def test_policy_is_per_project(deps: services.Deps, with_policy: Project) -> None:
    other, _ = services.create_project(deps, name="Other")
    assert services.get_rbac_policy(deps, other) == rbac.DEFAULT_POLICY
    assert [r.resource_id for r in services.get_rbac_policy(deps, with_policy).resources] == [
        "documents",
        "reports",
    ]


def test_set_policy_for_unknown_project(deps: services.Deps) -> None:
    with pytest.raises(errors.ProjectNotFound):
        services.set_rbac_policy(deps, "project-test-nobody", {})


def test_invalid_policy_leaves_the_stored_one(deps: services.Deps, with_policy: Project) -> None:
    before = services.get_rbac_policy(deps, with_policy)
    with pytest.raises(errors.InvalidRbacPolicy):
        services.set_rbac_policy(deps, with_policy.project_id, {"resources": [{"resource_id": "stytch"}]})
    assert services.get_rbac_policy(deps, with_policy) == before


def test_allowed_check_returns_the_granting_roles(
    deps: services.Deps, with_policy: Project, clock: FrozenClock
) -> None:
    signed = sign_in(deps, with_policy, clock, ["editor", "admin"])
    result = check(deps, with_policy, signed.session_token, "documents", "read")
    assert result.granting_roles == ("stytch_user", "editor", "admin")
    assert result.session is not None and result.session.roles == ("stytch_user", "editor", "admin")
    assert roles_in_jwt(result.session_jwt) == ["stytch_user", "editor", "admin"]


def test_no_check_means_no_verdict(deps: services.Deps, with_policy: Project, clock: FrozenClock) -> None:
    signed = sign_in(deps, with_policy, clock, [])
    assert (
        services.authenticate_session(deps, with_policy, session_token=signed.session_token).granting_roles
        is None
    )


@pytest.mark.parametrize(
    ("resource_id", "action"),
    [("documents", "write"), ("invoices", "read"), ("documents", "purge"), ("", "")],
    ids=["denied", "unknown-resource", "unknown-action", "empty"],
)
def test_denied_check_is_an_authorization_error_and_keeps_the_session(
    deps: services.Deps, with_policy: Project, clock: FrozenClock, resource_id: str, action: str
) -> None:
    signed = sign_in(deps, with_policy, clock, [])
    with pytest.raises(errors.SessionAuthorizationError):
        check(deps, with_policy, signed.session_token, resource_id, action)
    again = services.authenticate_session(deps, with_policy, session_token=signed.session_token)
    assert again.session is not None and again.session.session_id == signed.session.session_id  # type: ignore[union-attr]


def test_denied_check_neither_extends_the_session_nor_merges_its_claims(
    deps: services.Deps, with_policy: Project, clock: FrozenClock
) -> None:
    signed = sign_in(deps, with_policy, clock, [])
    assert signed.session is not None
    clock.advance(minutes=10)
    with pytest.raises(errors.SessionAuthorizationError):
        services.authenticate_session(
            deps,
            with_policy,
            session_token=signed.session_token,
            session_duration_minutes=600,
            session_custom_claims={"on_denied": True},
            authorization_check=AuthorizationCheck("documents", "write"),
        )
    (session,) = services.get_sessions(deps, with_policy, user_id=signed.user.user_id)
    assert session.expires_at == signed.session.expires_at
    assert "on_denied" not in session.custom_claims
    assert session.last_accessed_at == clock.now  # the refresh is kept
    allowed = services.authenticate_session(
        deps,
        with_policy,
        session_token=signed.session_token,
        session_duration_minutes=600,
        session_custom_claims={"on_allowed": True},
        authorization_check=AuthorizationCheck("documents", "read"),
    )
    assert allowed.session is not None and allowed.session.custom_claims == {"on_allowed": True}
    assert allowed.session.expires_at == clock.now + timedelta(minutes=600)


def test_check_is_denied_under_the_default_policy(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    signed = sign_in(deps, project, clock, ["editor"])
    with pytest.raises(errors.SessionAuthorizationError):
        check(deps, project, signed.session_token, "documents", "read")


def test_role_added_by_update_takes_effect_at_the_next_authenticate(
    deps: services.Deps, with_policy: Project, clock: FrozenClock
) -> None:
    signed = sign_in(deps, with_policy, clock, [])
    assert signed.session is not None
    with pytest.raises(errors.SessionAuthorizationError):
        check(deps, with_policy, signed.session_token, "documents", "write")
    services.update_user(deps, with_policy, signed.user.user_id, roles=["editor"])
    # The session still carries the roles of its last authentication until it authenticates again.
    listed = services.get_sessions(deps, with_policy, user_id=signed.user.user_id)
    assert listed[0].roles == ("stytch_user",)
    result = check(deps, with_policy, signed.session_token, "documents", "write")
    assert result.granting_roles == ("editor",)
    assert roles_in_jwt(result.session_jwt) == ["stytch_user", "editor"]
    assert services.get_sessions(deps, with_policy, user_id=signed.user.user_id)[0].roles == (
        "stytch_user",
        "editor",
    )


def test_role_added_reaches_a_session_extended_by_a_factor(
    deps: services.Deps, with_policy: Project, clock: FrozenClock
) -> None:
    user = services.create_user(deps, with_policy, email="extend@example.com")
    created = services.create_totp(deps, with_policy, user_id=user.user_id)
    first = services.authenticate_totp(
        deps, with_policy, user_id=user.user_id, totp_code=code_for(created.secret, clock.now),
        session_duration_minutes=60,
    )  # fmt: skip
    services.update_user(deps, with_policy, user.user_id, roles=["auditor"])
    clock.advance(seconds=30)
    again = services.authenticate_totp(
        deps, with_policy, user_id=user.user_id, totp_code=code_for(created.secret, clock.now),
        session_token=first.session_token,
    )  # fmt: skip
    assert again.session is not None and again.session.roles == ("stytch_user", "auditor")
    assert roles_in_jwt(again.session_jwt) == ["stytch_user", "auditor"]


def test_policy_change_takes_effect_at_once(
    deps: services.Deps, with_policy: Project, clock: FrozenClock
) -> None:
    plain = sign_in(deps, with_policy, clock, [])
    auditor = sign_in(deps, with_policy, clock, ["auditor"])
    assert check(deps, with_policy, plain.session_token, "documents", "read").granting_roles == (
        "stytch_user",
    )
    with pytest.raises(errors.SessionAuthorizationError):
        check(deps, with_policy, auditor.session_token, "documents", "write")
    services.set_rbac_policy(deps, with_policy.project_id, document("policy_changed.yaml"))
    with pytest.raises(errors.SessionAuthorizationError):
        check(deps, with_policy, plain.session_token, "documents", "read")
    assert check(deps, with_policy, auditor.session_token, "documents", "read").granting_roles == ("auditor",)


def test_unreadable_policy_never_allows(
    deps: services.Deps, with_policy: Project, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    signed = sign_in(deps, with_policy, clock, ["admin"])
    broken = {"roles": [{"role_id": "admin", "permissions": [{"resource_id": "documents", "actions": "*"}]}]}
    with deps.store.transaction() as tx:  # the store keeps what it is given; only the services validate
        tx.set_rbac_policy(with_policy.project_id, broken, clock())
    with (
        caplog.at_level(logging.ERROR, logger="totpflow.server.rbac"),
        pytest.raises(errors.RbacPolicyUnreadable),
    ):
        check(deps, with_policy, signed.session_token, "documents", "read")
    assert "cannot be read" in caplog.text and with_policy.project_id in caplog.text
    with pytest.raises(errors.RbacPolicyUnreadable):
        services.get_rbac_policy(deps, with_policy)


def test_roles_given_on_create_are_in_the_first_session(
    deps: services.Deps, with_policy: Project, clock: FrozenClock
) -> None:
    signed = sign_in(deps, with_policy, clock, ["auditor", "stytch_user", "auditor"])
    assert signed.user.roles == ("stytch_user", "auditor")
    assert signed.session is not None and signed.session.roles == ("stytch_user", "auditor")
    assert roles_in_jwt(signed.session_jwt) == ["stytch_user", "auditor"]


def test_roles_and_a_policy_stored_before_the_character_rule_are_still_read(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    """A role id with a control character, stored before such ids were refused (in a user's roles and in the
    policy), is read, holds and grants as before; only a request naming it again is refused."""
    odd = "ad\x07min"
    signed = sign_in(deps, project, clock, ["editor"])
    uid = signed.user.user_id
    stored = {
        "resources": [{"resource_id": "documents", "description": "", "actions": ["read"]}],
        "roles": [
            {
                "role_id": odd,
                "description": "",
                "permissions": [{"resource_id": "documents", "actions": ["read"]}],
            }
        ],
        "scopes": [],
    }
    with deps.store.transaction() as tx:  # the store keeps what it is given; only the services validate
        tx.update_user(project.project_id, uid, UserChanges(roles=("stytch_user", odd)))
        tx.set_rbac_policy(project.project_id, stored, clock())
    assert services.get_user(deps, project, uid).roles == ("stytch_user", odd)
    assert [r.role_id for r in services.get_rbac_policy(deps, project).roles] == ["stytch_user", odd]
    assert check(deps, project, signed.session_token, "documents", "read").granting_roles == (odd,)
    renamed = services.update_user(deps, project, uid, name=NameUpdate(first_name="Ada"))
    assert renamed.roles == ("stytch_user", odd)
    with pytest.raises(errors.InvalidRoleId):
        services.update_user(deps, project, uid, roles=[odd])
    with pytest.raises(errors.InvalidRbacPolicy):
        services.set_rbac_policy(deps, project.project_id, stored)
    assert services.get_user(deps, project, uid).roles == ("stytch_user", odd)
