"""RBAC over HTTP against a real server, on SQLite and PostgreSQL: ``GET /v1/rbac/policy`` in Stytch's shape,
and ``authorization_check`` on ``/v1/sessions/authenticate`` — ``verdict`` when allowed, 403
``consumer_session_authorization_error`` when denied (the session stays valid), 500 when the stored policy
cannot be read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from rbackit import rbac_set, store_policy_document
from serverkit import Backend, basic, enroll


@pytest.fixture(scope="module")
def http(backend: Backend) -> Iterator[httpx.Client]:
    server = backend.server
    headers = {"Authorization": basic(server.project_id, server.secret)}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as client:
        yield client


def authenticate(http: httpx.Client, token: str, check: dict[str, str] | None = None) -> httpx.Response:
    body: dict[str, Any] = {"session_token": token}
    if check is not None:
        body["authorization_check"] = check
    return http.post("/v1/sessions/authenticate", json=body)


def test_policy_shape_default_then_set(backend: Backend, http: httpx.Client) -> None:
    store_policy_document(backend, {})  # no roles at all: served as the default policy
    default = http.get("/v1/rbac/policy")
    assert default.status_code == 200, default.text
    body = default.json()
    assert set(body) == {"request_id", "status_code", "policy"}
    assert body["policy"]["resources"] == [] and body["policy"]["scopes"] == []
    assert [r["role_id"] for r in body["policy"]["roles"]] == ["stytch_user"]
    assert body["policy"]["roles"][0]["permissions"] == []

    rbac_set(backend, "policy.yaml")
    policy = http.get("/v1/rbac/policy").json()["policy"]
    assert policy["resources"][0] == {
        "resource_id": "documents",
        "description": "Shared documents",
        "actions": ["read", "write", "delete"],
    }
    assert policy["roles"][2] == {
        "role_id": "admin",
        "description": "",
        "permissions": [
            {"resource_id": "documents", "actions": ["*"]},
            {"resource_id": "reports", "actions": ["*"]},
        ],
    }
    assert policy["scopes"] == [
        {
            "scope": "read:docs",
            "description": "Read documents",
            "permissions": [{"resource_id": "documents", "actions": ["read"]}],
        }
    ]


def test_policy_needs_credentials(backend: Backend) -> None:
    response = httpx.get(backend.server.base_url + "/v1/rbac/policy", timeout=30)
    assert response.status_code == 401 and response.json()["error_type"] == "unauthorized_credentials"


def test_allowed_denied_unknown(backend: Backend, http: httpx.Client) -> None:
    rbac_set(backend, "policy.yaml")
    user = enroll(backend, "rbac-http@example.com")
    plain = authenticate(http, user["session_token"])
    assert plain.status_code == 200 and "verdict" not in plain.json()

    allowed = authenticate(http, user["session_token"], {"resource_id": "documents", "action": "read"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["verdict"] == {"authorized": True, "granting_roles": ["stytch_user"]}

    for check in (
        {"resource_id": "documents", "action": "write"},
        {"resource_id": "invoices", "action": "read"},
        {"resource_id": "documents", "action": "purge"},
    ):
        denied = authenticate(http, user["session_token"], check)
        assert denied.status_code == 403, denied.text
        body = denied.json()
        assert body["error_type"] == "consumer_session_authorization_error"
        assert body["status_code"] == 403 and body["request_id"] and body["error_url"]
        assert body["error_message"] == (
            "The User is not authorized to perform the requested action on that resource."
        )
    # Not revoked: the same token still authenticates.
    assert authenticate(http, user["session_token"]).status_code == 200


def test_role_added_by_update_is_effective_at_the_next_authenticate(
    backend: Backend, http: httpx.Client
) -> None:
    rbac_set(backend, "policy.yaml")
    user = enroll(backend, "rbac-http-role@example.com")
    check = {"resource_id": "reports", "action": "export"}
    assert authenticate(http, user["session_token"], check).status_code == 403
    updated = http.put(f"/v1/users/{user['user_id']}", json={"roles": ["admin"]})
    assert updated.status_code == 200 and updated.json()["user"]["roles"] == ["stytch_user", "admin"]
    listed = http.get("/v1/sessions", params={"user_id": user["user_id"]}).json()["sessions"]
    assert listed[0]["roles"] == ["stytch_user"]  # as of the session's last authentication
    allowed = authenticate(http, user["session_token"], check)
    assert allowed.status_code == 200 and allowed.json()["verdict"]["granting_roles"] == ["admin"]
    assert allowed.json()["session"]["roles"] == ["stytch_user", "admin"]


def test_policy_changed_by_rbac_set(backend: Backend, http: httpx.Client) -> None:
    rbac_set(backend, "policy.yaml")
    user = enroll(backend, "rbac-http-change@example.com")
    check = {"resource_id": "documents", "action": "read"}
    assert authenticate(http, user["session_token"], check).status_code == 200
    rbac_set(backend, "policy_changed.yaml")
    assert authenticate(http, user["session_token"], check).status_code == 403
    rbac_set(backend, "policy.yaml")


def test_bad_check_bodies_are_400(backend: Backend, http: httpx.Client) -> None:
    user = enroll(backend, "rbac-http-bad@example.com")
    for check in ({"resource_id": "documents"}, {"resource_id": 1, "action": "read"}, "documents:read"):
        response = http.post(
            "/v1/sessions/authenticate",
            json={"session_token": user["session_token"], "authorization_check": check},
        )
        assert response.status_code == 400 and response.json()["error_type"] == "bad_request"


def test_unreadable_policy_is_a_logged_500_never_an_allow(backend: Backend, http: httpx.Client) -> None:
    rbac_set(backend, "policy.yaml")
    user = enroll(backend, "rbac-http-broken@example.com")
    store_policy_document(backend, {"roles": "everyone may do anything"})
    try:
        response = authenticate(http, user["session_token"], {"resource_id": "documents", "action": "read"})
        assert response.status_code == 500
        assert response.json()["error_type"] == "internal_server_error"
        assert http.get("/v1/rbac/policy").status_code == 500
        assert authenticate(http, user["session_token"]).status_code == 200  # no check: no policy read
    finally:
        rbac_set(backend, "policy.yaml")
