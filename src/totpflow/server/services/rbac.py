"""RBAC: a project's policy (``GET /v1/rbac/policy``, ``totpflow rbac set|show``) and the
``authorization_check`` of ``/v1/sessions/authenticate`` (stytch-rbac-users-sessions.md §1).

A check is never passed by default: a stored policy that does not parse is ``RbacPolicyUnreadable`` (a 500,
logged with its reason), and a resource or action the policy does not know is denied like any other action
no role grants (403 ``consumer_session_authorization_error``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from totpflow.server import errors
from totpflow.server.domain import rbac
from totpflow.server.domain.models import Project
from totpflow.server.services.deps import Deps
from totpflow.server.storage.protocol import Transaction

logger = logging.getLogger("totpflow.server.rbac")


@dataclass(frozen=True, slots=True)
class AuthorizationCheck:
    resource_id: str
    action: str


def stored_policy(tx: Transaction, project_id: str) -> rbac.Policy:
    """The project's policy, read in ``tx``; the default one when none was set."""
    document = tx.rbac_policy(project_id)
    if document is None:
        return rbac.DEFAULT_POLICY
    try:
        return rbac.parse_policy(document, stored=True)
    except errors.InvalidRbacPolicy as exc:
        # The problems name locations and policy identifiers (operator-chosen names), never user data.
        logger.error("RBAC policy of project %s cannot be read: %s", project_id, "; ".join(exc.problems[:5]))
        raise errors.RbacPolicyUnreadable("stored policy does not validate") from None


def get_policy(deps: Deps, project: Project) -> rbac.Policy:
    """``GET /v1/rbac/policy``."""
    with deps.store.transaction(readonly=True) as tx:
        return stored_policy(tx, project.project_id)


def set_policy(deps: Deps, project_id: str, document: Any) -> rbac.Policy:
    """Validate ``document`` and make it the project's policy (``InvalidRbacPolicy``, ``ProjectNotFound``);
    stored in its normalised wire shape."""
    policy = rbac.parse_policy(document)
    with deps.store.transaction() as tx:
        if tx.get_project(project_id) is None:
            raise errors.ProjectNotFound("project_id")
        tx.set_rbac_policy(project_id, rbac.policy_json(policy), deps.now())
    return policy


def show_policy(deps: Deps, project_id: str) -> rbac.Policy:
    """The policy of a project named by id (the operator's ``totpflow rbac show``)."""
    with deps.store.transaction(readonly=True) as tx:
        if tx.get_project(project_id) is None:
            raise errors.ProjectNotFound("project_id")
        return stored_policy(tx, project_id)


def authorize(
    tx: Transaction, project_id: str, roles: tuple[str, ...], check: AuthorizationCheck
) -> list[str]:
    """The roles granting ``check`` under the project's policy, read in ``tx``. An empty list means denied:
    the caller raises ``SessionAuthorizationError`` (after committing the session's refresh)."""
    return rbac.granting_roles(stored_policy(tx, project_id), roles, check.resource_id, check.action)
