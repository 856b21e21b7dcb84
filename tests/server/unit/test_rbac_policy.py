"""The RBAC policy: validation of policy documents, the wire shape, and the evaluation rule of the SDKs'
local evaluators (vectors in ``tests/server/data/rbac/cases.yaml``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from totpflow.server.domain import rbac
from totpflow.server.errors import InvalidRbacPolicy

DATA = Path(__file__).parents[1] / "data" / "rbac"
CASES = yaml.safe_load((DATA / "cases.yaml").read_text(encoding="utf-8"))
POLICY = rbac.parse_policy(yaml.safe_load((DATA / "policy.yaml").read_text(encoding="utf-8")))


@pytest.mark.parametrize("case", CASES["checks"], ids=lambda c: c["id"])
def test_granting_roles(case: dict[str, Any]) -> None:
    assert rbac.granting_roles(POLICY, case["roles"], case["resource_id"], case["action"]) == case["granting"]


@pytest.mark.parametrize("case", CASES["invalid"], ids=lambda c: c["id"])
def test_invalid_documents_name_the_problem_and_its_location(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidRbacPolicy) as raised:
        rbac.parse_policy(case["document"])
    assert any(case["problem"] in problem for problem in raised.value.problems), raised.value.problems


CONTROL_CHARACTER_CASES = [c for c in CASES["invalid"] if "control character" in c["problem"]]


@pytest.mark.parametrize("case", CONTROL_CHARACTER_CASES, ids=lambda c: c["id"])
def test_a_stored_policy_from_before_the_character_rule_is_still_read(case: dict[str, Any]) -> None:
    """The project's stored copy may hold identifiers accepted before control characters were refused: it is
    read (never an unreadable policy, a 500), while a new document with them is refused."""
    document = case["document"]
    policy = rbac.parse_policy(document, stored=True)
    assert rbac.parse_policy(rbac.policy_json(policy), stored=True) == policy


def test_identifiers_beyond_ascii_are_accepted() -> None:
    document = {
        "resources": [{"resource_id": "dökümanlar", "actions": ["読む"]}],
        "roles": [
            {"role_id": "r\U0001f600", "permissions": [{"resource_id": "dökümanlar", "actions": ["*"]}]}
        ],
        "scopes": [{"scope": "lire:documents"}],
    }
    policy = rbac.parse_policy(document)
    assert rbac.granting_roles(policy, ["r\U0001f600"], "dökümanlar", "読む") == ["r\U0001f600"]


def test_every_problem_is_reported_at_once() -> None:
    document = {
        "resources": [{"resource_id": "stytch_x", "actions": ["read"]}, {"resource_id": "", "actions": []}],
        "roles": [{"role_id": "r", "permissions": [{"resource_id": "nowhere", "actions": ["read"]}]}],
    }
    with pytest.raises(InvalidRbacPolicy) as raised:
        rbac.parse_policy(document)
    assert len(raised.value.problems) == 3


def test_default_policy_has_only_stytch_user_without_permissions() -> None:
    assert rbac.policy_json(rbac.DEFAULT_POLICY) == {
        "roles": [
            {"role_id": "stytch_user", "description": rbac.DEFAULT_ROLE_DESCRIPTION, "permissions": []}
        ],
        "resources": [],
        "scopes": [],
    }
    assert rbac.parse_policy({}) == rbac.DEFAULT_POLICY
    assert rbac.granting_roles(rbac.DEFAULT_POLICY, ["stytch_user"], "documents", "read") == []


def test_stytch_user_is_added_when_the_document_omits_it() -> None:
    policy = rbac.parse_policy({"roles": [{"role_id": "editor"}]})
    assert [r.role_id for r in policy.roles] == ["stytch_user", "editor"]


def test_wire_shape_round_trips_and_has_every_field() -> None:
    shape = rbac.policy_json(POLICY)
    assert rbac.parse_policy(shape) == POLICY
    assert set(shape) == {"roles", "resources", "scopes"}
    assert all(set(r) == {"role_id", "description", "permissions"} for r in shape["roles"])
    assert all(set(r) == {"resource_id", "description", "actions"} for r in shape["resources"])
    assert all(set(s) == {"scope", "description", "permissions"} for s in shape["scopes"])
    assert shape["resources"][1] == {
        "resource_id": "reports",
        "description": "",
        "actions": ["view", "export"],
    }


def test_a_resource_id_of_the_longest_length_grants_and_a_longer_one_names_nothing() -> None:
    longest = "r" * rbac.MAX_ID_LENGTH
    policy = rbac.parse_policy(
        {
            "resources": [{"resource_id": longest, "actions": ["a" * rbac.MAX_ID_LENGTH]}],
            "roles": [{"role_id": "editor", "permissions": [{"resource_id": longest, "actions": ["*"]}]}],
        }
    )
    assert rbac.granting_roles(policy, ["editor"], longest, "a" * rbac.MAX_ID_LENGTH) == ["editor"]
    assert rbac.granting_roles(policy, ["editor"], longest + "r", "read") == []
    # "*" grants any action string, however long (the SDKs' local evaluators agree): actions have no limit
    assert rbac.granting_roles(policy, ["editor"], longest, "a" * (rbac.MAX_ID_LENGTH + 1)) == ["editor"]
