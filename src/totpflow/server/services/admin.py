"""What an operator does on the store without a project's credentials (``totpflow project|users|sessions``):
list projects and users, look at a user's TOTP, lock and sessions, unlock or delete a user, revoke sessions.

Users and sessions are named by their ids, which are unique across projects, so the project is found from
the id; when the caller names a project too, the id must belong to it. The changes themselves are the
ordinary use cases (``users.delete_user``, ``sessions.revoke_session``) or the lockout rules
(``totpflow.server.lockout``), run as that project. Nothing returned holds a secret, code or token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from totpflow.server import errors, lockout
from totpflow.server.domain.models import Project, Session
from totpflow.server.services import sessions as session_service
from totpflow.server.services import users as user_service
from totpflow.server.services.deps import Deps
from totpflow.server.storage.protocol import Transaction
from totpflow.server.storage.records import ProjectSummary, UserSummary

__all__ = [
    "ProjectSummary",
    "UserDetail",
    "UserOverview",
    "delete_user",
    "list_projects",
    "list_users",
    "revoke_session",
    "revoke_user_sessions",
    "show_user",
    "unlock_user",
]


@dataclass(frozen=True, slots=True)
class UserOverview:
    """A user as the operator's lists show it: the stored summary and whether a lock holds now."""

    summary: UserSummary
    locked: bool


@dataclass(frozen=True, slots=True)
class UserDetail:
    overview: UserOverview
    sessions: tuple[Session, ...]  # active sessions, oldest first


def list_projects(deps: Deps) -> list[ProjectSummary]:
    with deps.store.transaction(readonly=True) as tx:
        return tx.project_summaries()


def list_users(
    deps: Deps, project_id: str, *, email: str | None = None, limit: int = 1000
) -> list[UserOverview]:
    """The project's users, oldest first (``ProjectNotFound`` for an unknown project)."""
    now = deps.now()
    with deps.store.transaction(readonly=True) as tx:
        _project(tx, project_id)
        found = tx.user_summaries(project_id, email=email, limit=limit)
    return [_overview(s, now) for s in found]


def show_user(deps: Deps, user_id: str, *, project_id: str | None = None) -> UserDetail:
    """The user's TOTP state, lock, failure count and active sessions (``UserNotFound``)."""
    now = deps.now()
    with deps.store.transaction(readonly=True) as tx:
        project = _owner(tx, tx.project_of_user(user_id), project_id, errors.UserNotFound("user_id"))
        return _detail(tx, project, user_id, now)


def unlock_user(deps: Deps, user_id: str, *, project_id: str | None = None) -> UserDetail:
    """Lift the user's lock, if any, and clear its failure count; returns the user as it is now."""
    now = deps.now()
    with deps.store.transaction() as tx:
        project = _owner(tx, tx.project_of_user(user_id), project_id, errors.UserNotFound("user_id"))
        if not lockout.unlock(tx, project.project_id, user_id):
            raise errors.UserNotFound("user_id")
        return _detail(tx, project, user_id, now)


def delete_user(deps: Deps, user_id: str, *, project_id: str | None = None) -> str:
    """Delete the user with everything it has (``users.delete_user``); returns its project's id."""
    with deps.store.transaction(readonly=True) as tx:
        project = _owner(tx, tx.project_of_user(user_id), project_id, errors.UserNotFound("user_id"))
    user_service.delete_user(deps, project, user_id)
    return project.project_id


def revoke_session(deps: Deps, session_id: str, *, project_id: str | None = None) -> str:
    """Revoke one active session (``SessionNotFound`` when it is unknown, revoked or expired); returns its
    user's id."""
    now = deps.now()
    with deps.store.transaction(readonly=True) as tx:
        owner = tx.project_of_session(session_id)
        project = _owner(tx, owner, project_id, errors.SessionNotFound("session_id"))
        row = tx.session_by_id(project.project_id, session_id)
    if row is None or row.revoked_at is not None or row.session.expires_at <= now:
        raise errors.SessionNotFound("session_id")
    session_service.revoke_session(deps, project, session_id=session_id)
    return row.session.user_id


def revoke_user_sessions(deps: Deps, user_id: str, *, project_id: str | None = None) -> list[str]:
    """Revoke every active session of the user; returns the ids of those revoked (maybe none)."""
    now = deps.now()
    with deps.store.transaction() as tx:
        project = _owner(tx, tx.project_of_user(user_id), project_id, errors.UserNotFound("user_id"))
        active = tx.active_sessions(project.project_id, user_id, now)
        return [s.session_id for s in active if tx.revoke_session(project.project_id, s.session_id, now)]


def _project(tx: Transaction, project_id: str) -> Project:
    row = tx.get_project(project_id)
    if row is None:
        raise errors.ProjectNotFound("project_id")
    return row.project


def _owner(tx: Transaction, owner: str | None, named: str | None, missing: errors.ServerError) -> Project:
    """The project ``owner`` that holds the thing looked up; ``missing`` when there is none, or when the
    caller named another project."""
    if named is not None:
        _project(tx, named)
    if owner is None or (named is not None and owner != named):
        raise missing
    return _project(tx, owner)


def _overview(summary: UserSummary, now: datetime) -> UserOverview:
    return UserOverview(summary, lockout.is_locked(summary.lock_expires_at, now))


def _detail(tx: Transaction, project: Project, user_id: str, now: datetime) -> UserDetail:
    found = tx.user_summaries(project.project_id, user_ids=[user_id], limit=1)
    if not found:
        raise errors.UserNotFound("user_id")
    active = tx.active_sessions(project.project_id, user_id, now)
    return UserDetail(_overview(found[0], now), tuple(active))
