"""Queries of the operator commands (``totpflow project|users|sessions``): what a store holds, read across
its projects without a project's credentials, and the lock that makes creating a store's first project
happen once. They read; changes go through the services (``totpflow.server.services.admin``), which keep
the rules (lock state: ``totpflow.server.lockout``).

No query here returns a secret, a hash or an encrypted value: the summaries hold only what an operator
may see (``records.ProjectSummary``, ``records.UserSummary``).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, func, select

from totpflow.server.domain.emails import email_key
from totpflow.server.storage.base import Queries
from totpflow.server.storage.records import ProjectSummary, TotpState, UserSummary
from totpflow.server.storage.schema import emails, projects, sessions, totps, users

# pg_advisory_xact_lock key of "create the store's first project" (any constant; ASCII "totpflow").
_PROJECT_CREATION_LOCK = 0x746F7470666C6F77


class AdminQueries(Queries):
    def lock_project_creation(self) -> None:
        """Serialise "is there a project? if not, create one" across processes, until the transaction ends.
        SQLite's read-write transactions already hold the database's write lock."""
        if self.dialect == "postgresql":
            self._c.execute(select(func.pg_advisory_xact_lock(_PROJECT_CREATION_LOCK)))

    def project_summaries(self) -> list[ProjectSummary]:
        """Every project, oldest first, with its number of users."""
        counts = (
            select(users.c.project_id, func.count().label("n"))
            .group_by(users.c.project_id)
            .subquery("counts")
        )
        rows = self._c.execute(
            select(projects.c.project_id, projects.c.name, projects.c.created_at, counts.c.n)
            .select_from(projects.outerjoin(counts, counts.c.project_id == projects.c.project_id))
            .order_by(projects.c.created_at, projects.c.project_id)
        ).all()
        return [ProjectSummary(r.project_id, r.name, r.created_at, int(r.n or 0)) for r in rows]

    def project_of_user(self, user_id: str) -> str | None:
        """The project holding the user ``user_id`` (ids are unique across projects)."""
        row = self._c.execute(select(users.c.project_id).where(users.c.user_id == user_id)).first()
        return None if row is None else str(row.project_id)

    def project_of_session(self, session_id: str) -> str | None:
        row = self._c.execute(
            select(sessions.c.project_id).where(sessions.c.session_id == session_id)
        ).first()
        return None if row is None else str(row.project_id)

    def user_summaries(
        self, project_id: str, *, email: str | None = None, user_ids: Sequence[str] | None = None, limit: int
    ) -> list[UserSummary]:
        """The project's users, oldest first: all, those with the email address ``email`` (any case or
        Unicode normal form: ``email_key``), or those
        of ``user_ids``; at most ``limit``."""
        query = select(users).where(users.c.project_id == project_id)
        if email is not None:
            query = query.where(
                exists().where(emails.c.user_id == users.c.user_id, emails.c.email_key == email_key(email))
            )
        if user_ids is not None:
            query = query.where(users.c.user_id.in_(list(user_ids)))
        rows = self._c.execute(query.order_by(users.c.created_at, users.c.user_id).limit(limit)).all()
        ids = [r.user_id for r in rows]
        if not ids:
            return []
        addresses: dict[str, list[str]] = {}
        for e in self._c.execute(
            select(emails.c.user_id, emails.c.email)
            .where(emails.c.project_id == project_id, emails.c.user_id.in_(ids))
            .order_by(emails.c.email_id)
        ).all():
            addresses.setdefault(e.user_id, []).append(e.email)
        states: dict[str, TotpState] = {}
        for t in self._c.execute(
            select(totps.c.user_id, totps.c.verified).where(
                totps.c.project_id == project_id, totps.c.user_id.in_(ids), ~totps.c.deleted
            )
        ).all():
            states[t.user_id] = "verified" if t.verified else "pending"
        return [
            UserSummary(
                project_id=project_id,
                user_id=r.user_id,
                status=r.status,
                created_at=r.created_at,
                emails=tuple(addresses.get(r.user_id, ())),
                totp=states.get(r.user_id, "none"),
                failed_attempts=int(r.failed_attempts),
                lock_expires_at=r.lock_expires_at,
            )
            for r in rows
        ]
