"""A project's RBAC policy (consumer style) and its evaluation.

A policy has resources (each with its actions), roles (each with permissions: a resource and some of its
actions, or ``*`` for all of them) and scopes (permissions too; used by Connected Apps, not by session
checks). Every project has the predefined role ``stytch_user``, with no permissions unless the policy
gives it some, and every user holds it.

:func:`granting_roles` is the rule of every Stytch SDK's local evaluator (python ``rbac_local.is_authorized``,
node ``performBaseRoleAuthorizationCheck``): a role grants ``action`` on ``resource_id`` when the policy
defines that role, the subject holds it, and one of its permissions names the resource with the action or
``*``. Roles the policy does not define grant nothing; there is no resource wildcard and no hierarchy.

:func:`parse_policy` validates a policy document (the operator's file, or the stored copy) and reports every
problem with its location, e.g. ``roles[1].permissions[0].resource_id: no resource 'docs' in the policy``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from totpflow.server.errors import InvalidRbacPolicy

DEFAULT_ROLE = "stytch_user"
DEFAULT_ROLE_DESCRIPTION = "The role every user of the project holds."
WILDCARD_ACTION = "*"
RESERVED_RESOURCE_PREFIX = "stytch"  # reserved for Stytch's default resources
MAX_ID_LENGTH = 128
MAX_DESCRIPTION_LENGTH = 1000
# What no identifier of a policy (role, resource, action, scope) nor a role id in a user's ``roles`` holds:
# control characters (C0 with NUL, DEL, C1; an escape sequence would reach operators' terminals, a line
# feed would split a log line) and lone surrogates (not text: UTF-8 cannot encode them).
_NOT_IN_AN_ID = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def id_problem(value: str) -> str | None:
    """Why ``value`` cannot be an identifier of a policy (as :func:`parse_policy` words it), else None:
    empty or blank, white space at either end, a control character or lone surrogate, or more than
    :data:`MAX_ID_LENGTH` characters. Any other character is accepted (Stytch's Dashboard makes slugs;
    role ids outside the Basic Multilingual Plane were accepted before this rule and still are)."""
    if not value.strip():
        return "must be a non-empty string"
    if value != value.strip():
        return "must not start or end with whitespace"
    if _NOT_IN_AN_ID.search(value):
        return "must not contain a control character"
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters"
    return None


def has_control_character(value: str) -> bool:
    """Whether ``value`` holds a character no identifier may hold (see :func:`id_problem`)."""
    return _NOT_IN_AN_ID.search(value) is not None


@dataclass(frozen=True, slots=True)
class Permission:
    resource_id: str
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Resource:
    resource_id: str
    description: str
    actions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Role:
    role_id: str
    description: str
    permissions: tuple[Permission, ...]


@dataclass(frozen=True, slots=True)
class Scope:
    scope: str
    description: str
    permissions: tuple[Permission, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    resources: tuple[Resource, ...]
    roles: tuple[Role, ...]
    scopes: tuple[Scope, ...]


DEFAULT_POLICY = Policy(resources=(), roles=(Role(DEFAULT_ROLE, DEFAULT_ROLE_DESCRIPTION, ()),), scopes=())


def granting_roles(policy: Policy, subject_roles: Iterable[str], resource_id: str, action: str) -> list[str]:
    """The roles, in the policy's order, that the subject holds and that grant ``action`` on
    ``resource_id``; empty when none does (the check is then denied). A resource id longer than a policy's
    may be (:data:`MAX_ID_LENGTH`) names no resource: denied without looking. An action has no such limit:
    ``*`` grants any action string, as in the SDKs' local evaluators."""
    if len(resource_id) > MAX_ID_LENGTH:
        return []
    held = set(subject_roles)
    return [
        role.role_id
        for role in policy.roles
        if role.role_id in held
        and any(
            p.resource_id == resource_id and (action in p.actions or WILDCARD_ACTION in p.actions)
            for p in role.permissions
        )
    ]


def policy_json(policy: Policy) -> dict[str, Any]:
    """The policy in Stytch's wire shape (OpenAPI ``api_consumer_rbac_v1_Policy``): every field present."""

    def permissions(items: tuple[Permission, ...]) -> list[dict[str, Any]]:
        return [{"resource_id": p.resource_id, "actions": list(p.actions)} for p in items]

    return {
        "roles": [
            {"role_id": r.role_id, "description": r.description, "permissions": permissions(r.permissions)}
            for r in policy.roles
        ],
        "resources": [
            {"resource_id": r.resource_id, "description": r.description, "actions": list(r.actions)}
            for r in policy.resources
        ],
        "scopes": [
            {"scope": s.scope, "description": s.description, "permissions": permissions(s.permissions)}
            for s in policy.scopes
        ],
    }


# --- validation ---------------------------------------------------------------------------------------------


class _Problems:
    def __init__(self, *, stored: bool = False) -> None:
        self.items: list[str] = []
        # a stored copy may predate the character rule of ``id_problem``: it is read as it was accepted
        self.stored = stored

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")


def _fields(
    problems: _Problems, where: str, value: Any, required: tuple[str, ...], optional: tuple[str, ...]
) -> Mapping[str, Any] | None:
    if not isinstance(value, Mapping):
        problems.add(where, "must be a mapping")
        return None
    for key in value:
        if key not in required and key not in optional:
            problems.add(where, f"unknown field {str(key)!r} (allowed: {', '.join(required + optional)})")
    for key in required:
        if key not in value:
            problems.add(where, f"missing field {key!r}")
    return value


def _identifier(problems: _Problems, where: str, value: Any) -> str | None:
    if not isinstance(value, str):
        problems.add(where, "must be a non-empty string")
        return None
    problem = id_problem(value)
    if problem is not None and not (problems.stored and problem.endswith("control character")):
        problems.add(where, problem)
        return None
    return value


def _description(problems: _Problems, where: str, value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.add(where, "must be a string")
        return ""
    if len(value) > MAX_DESCRIPTION_LENGTH:
        problems.add(where, f"must be at most {MAX_DESCRIPTION_LENGTH} characters")
    return value


def _list(problems: _Problems, where: str, value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(where, "must be a list")
        return []
    return value


def _actions(problems: _Problems, where: str, value: Any, *, allow_wildcard: bool) -> tuple[str, ...]:
    actions: list[str] = []
    for i, item in enumerate(_list(problems, where, value)):
        action = _identifier(problems, f"{where}[{i}]", item)
        if action is None:
            continue
        if action == WILDCARD_ACTION and not allow_wildcard:
            problems.add(f"{where}[{i}]", "'*' is not an action of a resource (use it in a permission)")
        elif action in actions:
            problems.add(f"{where}[{i}]", f"duplicate action {action!r}")
        else:
            actions.append(action)
    return tuple(actions)


def _permissions(
    problems: _Problems, where: str, value: Any, resources: Mapping[str, Resource]
) -> tuple[Permission, ...]:
    out: list[Permission] = []
    for i, item in enumerate(_list(problems, where, value)):
        at = f"{where}[{i}]"
        fields = _fields(problems, at, item, ("resource_id", "actions"), ())
        if fields is None:
            continue
        resource_id = _identifier(problems, f"{at}.resource_id", fields.get("resource_id"))
        actions = _actions(problems, f"{at}.actions", fields.get("actions"), allow_wildcard=True)
        if "actions" in fields and not actions and isinstance(fields.get("actions"), list):
            problems.add(f"{at}.actions", "must name at least one action")
        if resource_id is None:
            continue
        resource = resources.get(resource_id)
        if resource is None:
            problems.add(f"{at}.resource_id", f"no resource {resource_id!r} in the policy")
            continue
        for j, action in enumerate(actions):
            if action != WILDCARD_ACTION and action not in resource.actions:
                problems.add(f"{at}.actions[{j}]", f"{action!r} is not an action of resource {resource_id!r}")
        if any(p.resource_id == resource_id for p in out):
            problems.add(f"{at}.resource_id", f"resource {resource_id!r} appears in two permissions")
        out.append(Permission(resource_id, actions))
    return tuple(out)


def parse_policy(document: Any, *, stored: bool = False) -> Policy:
    """Validate a policy document (``{resources, roles, scopes}``, each a list, each optional) and return the
    policy, with ``stytch_user`` added (no permissions) when the document does not define it. Raises
    ``InvalidRbacPolicy`` listing every problem. ``stored``: the project's stored copy, whose identifiers
    may hold control characters (accepted before :func:`id_problem` refused them; still read, never a 500)."""
    problems = _Problems(stored=stored)
    top = _fields(problems, "policy", document, (), ("resources", "roles", "scopes"))
    if top is None:
        raise InvalidRbacPolicy(problems.items)

    resources: dict[str, Resource] = {}
    for i, item in enumerate(_list(problems, "resources", top.get("resources"))):
        at = f"resources[{i}]"
        fields = _fields(problems, at, item, ("resource_id", "actions"), ("description",))
        if fields is None:
            continue
        resource_id = _identifier(problems, f"{at}.resource_id", fields.get("resource_id"))
        description = _description(problems, f"{at}.description", fields.get("description"))
        actions = _actions(problems, f"{at}.actions", fields.get("actions"), allow_wildcard=False)
        if resource_id is None:
            continue
        if resource_id.lower().startswith(RESERVED_RESOURCE_PREFIX):
            problems.add(f"{at}.resource_id", f"may not start with {RESERVED_RESOURCE_PREFIX!r} (reserved)")
        elif resource_id in resources:
            problems.add(f"{at}.resource_id", f"duplicate resource {resource_id!r}")
        else:
            resources[resource_id] = Resource(resource_id, description, actions)

    roles: dict[str, Role] = {}
    for i, item in enumerate(_list(problems, "roles", top.get("roles"))):
        at = f"roles[{i}]"
        fields = _fields(problems, at, item, ("role_id",), ("description", "permissions"))
        if fields is None:
            continue
        role_id = _identifier(problems, f"{at}.role_id", fields.get("role_id"))
        description = _description(problems, f"{at}.description", fields.get("description"))
        permissions = _permissions(problems, f"{at}.permissions", fields.get("permissions"), resources)
        if role_id is None:
            continue
        if role_id in roles:
            problems.add(f"{at}.role_id", f"duplicate role {role_id!r}")
        else:
            roles[role_id] = Role(role_id, description, permissions)

    scopes: dict[str, Scope] = {}
    for i, item in enumerate(_list(problems, "scopes", top.get("scopes"))):
        at = f"scopes[{i}]"
        fields = _fields(problems, at, item, ("scope",), ("description", "permissions"))
        if fields is None:
            continue
        name = _identifier(problems, f"{at}.scope", fields.get("scope"))
        description = _description(problems, f"{at}.description", fields.get("description"))
        permissions = _permissions(problems, f"{at}.permissions", fields.get("permissions"), resources)
        if name is None:
            continue
        if name in scopes:
            problems.add(f"{at}.scope", f"duplicate scope {name!r}")
        else:
            scopes[name] = Scope(name, description, permissions)

    if problems.items:
        raise InvalidRbacPolicy(problems.items)
    if DEFAULT_ROLE not in roles:
        roles = {DEFAULT_ROLE: DEFAULT_POLICY.roles[0], **roles}
    return Policy(tuple(resources.values()), tuple(roles.values()), tuple(scopes.values()))
