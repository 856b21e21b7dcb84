"""RBAC through the official ``stytch`` Python SDK (15.x), sync and async methods, against a real server on
SQLite and PostgreSQL: ``rbac.policy``, ``sessions.authenticate`` with ``authorization_check`` (the server's
verdict) and ``sessions.authenticate_jwt_local`` with ``authorization_check`` (the SDK's local evaluator over
the policy it fetches and the roles in the JWT). Each case — allow, deny, unknown resource, unknown action,
role added, policy changed by ``totpflow rbac set`` — is checked both ways."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pyotp
import pytest
import stytch
from rbackit import rbac_set
from serverkit import BACKENDS, Backend, start
from stytch.consumer.models.sessions import AuthorizationCheck
from stytch.core.response_base import StytchError
from stytch.shared.rbac_local import RBACConsumerPermissionError

# The SDK's own deprecated calls (aiohttp BasicAuth, pydantic's .dict()); not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

T = TypeVar("T")
MODES = ["sync", "async"]


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    with start(request.param, tmp_path_factory.mktemp(f"rbac-sdk-{request.param}")) as running:
        rbac_set(running, "policy.yaml")
        yield running


class Sdk:
    """One client driven through its sync methods or their ``*_async`` twins (a fresh client has an empty
    policy cache)."""

    def __init__(self, backend: Backend, mode: str, secret: str | None = None) -> None:
        server = backend.server
        self.client = (
            server.client()
            if secret is None
            else stytch.Client(project_id=server.project_id, secret=secret, environment=server.base_url + "/")
        )
        self.mode = mode
        # One loop for the client's life: its aiohttp session is bound to the loop that created it.
        self.loop = asyncio.new_event_loop() if mode == "async" else None

    def _call(self, sync: Callable[..., T], asynchronous: Callable[..., Awaitable[T]], **kwargs: Any) -> T:
        if self.loop is None:
            return sync(**kwargs)
        return self.loop.run_until_complete(asynchronous(**kwargs))

    def close(self) -> None:
        if self.loop is not None:
            self.loop.run_until_complete(self.client.close())
            self.loop.close()

    def policy(self) -> Any:
        return self._call(self.client.rbac.policy, self.client.rbac.policy_async)

    def authenticate(self, **kwargs: Any) -> Any:
        s = self.client.sessions
        return self._call(s.authenticate, s.authenticate_async, **kwargs)

    def update_roles(self, user_id: str, roles: list[str]) -> Any:
        u = self.client.users
        return self._call(u.update, u.update_async, user_id=user_id, roles=roles)

    def local(self, session_jwt: str, resource_id: str, action: str) -> Any:
        s = self.client.sessions
        check = AuthorizationCheck(resource_id=resource_id, action=action)
        return self._call(
            s.authenticate_jwt_local, s.authenticate_jwt_local_async, session_jwt=session_jwt,
            authorization_check=check,
        )  # fmt: skip


@contextlib.contextmanager
def opened(backend: Backend, mode: str) -> Iterator[Sdk]:
    sdk = Sdk(backend, mode)
    try:
        yield sdk
    finally:
        sdk.close()


@pytest.fixture(params=MODES)
def sdk(request: pytest.FixtureRequest, backend: Backend) -> Iterator[Sdk]:
    with opened(backend, request.param) as running:
        yield running


def sign_in(client: stytch.Client, roles: list[str] | None = None) -> tuple[str, str, str]:
    """A new user (with ``roles``) signed in by TOTP: (user_id, session_token, session_jwt)."""
    kwargs: dict[str, Any] = {"email": f"rbac-{uuid.uuid4().hex[:10]}@example.com"}
    if roles:
        kwargs["roles"] = roles
    user = client.users.create(**kwargs)
    totp = client.totps.create(user_id=user.user_id)
    auth = client.totps.authenticate(
        user_id=user.user_id, totp_code=pyotp.TOTP(totp.secret).now(), session_duration_minutes=60
    )
    return user.user_id, auth.session_token, auth.session_jwt


def check(resource_id: str, action: str) -> AuthorizationCheck:
    return AuthorizationCheck(resource_id=resource_id, action=action)


def test_policy(sdk: Sdk) -> None:
    policy = sdk.policy().policy
    assert [r.role_id for r in policy.roles] == ["stytch_user", "editor", "admin", "auditor"]
    assert [r.resource_id for r in policy.resources] == ["documents", "reports"]
    assert policy.scopes[0].scope == "read:docs"


@pytest.mark.parametrize("mode", MODES)
def test_policy_with_a_wrong_secret_is_401(backend: Backend, mode: str) -> None:
    sdk = Sdk(backend, mode, secret="secret-test-wrong-0000000000000000000")
    try:
        with pytest.raises(StytchError) as raised:
            sdk.policy()
    finally:
        sdk.close()
    details = raised.value.details
    assert (details.status_code, details.error_type) == (401, "unauthorized_credentials")


def test_allowed(sdk: Sdk) -> None:
    _, token, jwt_text = sign_in(sdk.client, ["editor"])
    remote = sdk.authenticate(session_token=token, authorization_check=check("documents", "write"))
    assert remote.verdict is not None and remote.verdict.authorized is True
    assert remote.verdict.granting_roles == ["editor"]
    local = sdk.local(jwt_text, "documents", "write")
    assert local is not None and local.roles == ["stytch_user", "editor"]


@pytest.mark.parametrize(
    ("resource_id", "action"),
    [("documents", "delete"), ("invoices", "read"), ("documents", "purge")],
    ids=["denied", "unknown-resource", "unknown-action"],
)
def test_denied(sdk: Sdk, resource_id: str, action: str) -> None:
    _, token, jwt_text = sign_in(sdk.client, ["editor"])
    with pytest.raises(StytchError) as raised:
        sdk.authenticate(session_token=token, authorization_check=check(resource_id, action))
    assert raised.value.details.status_code == 403
    assert raised.value.details.error_type == "consumer_session_authorization_error"
    with pytest.raises(RBACConsumerPermissionError):
        sdk.local(jwt_text, resource_id, action)
    assert sdk.authenticate(session_token=token).session.session_id  # the session was not revoked


def test_role_added_by_update_is_effective_after_the_next_authenticate(sdk: Sdk) -> None:
    user_id, token, old_jwt = sign_in(sdk.client)
    with pytest.raises(StytchError):
        sdk.authenticate(session_token=token, authorization_check=check("reports", "view"))
    assert sdk.update_roles(user_id, ["auditor"]).user.roles == ["stytch_user", "auditor"]
    with pytest.raises(RBACConsumerPermissionError):
        sdk.local(old_jwt, "reports", "view")  # the old JWT carries the roles of its authentication
    fresh = sdk.authenticate(session_token=token, authorization_check=check("reports", "view"))
    assert fresh.verdict.granting_roles == ["auditor"] and fresh.session.roles == ["stytch_user", "auditor"]
    assert sdk.local(fresh.session_jwt, "reports", "view").roles == ["stytch_user", "auditor"]


def test_policy_changed_by_rbac_set(backend: Backend) -> None:
    for current in MODES:
        with opened(backend, current) as before:
            _, token, jwt_text = sign_in(before.client, ["auditor"])
            assert before.local(jwt_text, "documents", "read") is not None  # stytch_user may read
        rbac_set(backend, "policy_changed.yaml")
        # New clients: the SDK caches the policy for minutes.
        try:
            with opened(backend, current) as after, opened(backend, current) as plain:
                changed(after, plain, token, jwt_text)
        finally:
            rbac_set(backend, "policy.yaml")


def changed(after: Sdk, plain: Sdk, token: str, jwt_text: str) -> None:
    """What a user with the role ``auditor`` (``token``, ``jwt_text``) and a plain user see under
    ``policy_changed.yaml``."""
    with pytest.raises(RBACConsumerPermissionError):
        after.local(jwt_text, "documents", "write")
    with pytest.raises(StytchError) as raised:
        after.authenticate(session_token=token, authorization_check=check("documents", "delete"))
    assert raised.value.details.status_code == 403
    granted = after.authenticate(session_token=token, authorization_check=check("documents", "read"))
    assert granted.verdict.granting_roles == ["auditor"]
    assert after.local(granted.session_jwt, "documents", "read") is not None
    _, _, plain_jwt = sign_in(plain.client)
    with pytest.raises(RBACConsumerPermissionError):
        plain.local(plain_jwt, "documents", "read")  # stytch_user lost documents/read
