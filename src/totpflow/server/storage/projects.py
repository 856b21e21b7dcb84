"""Projects, their signing keys and their RBAC policy documents."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, exists, func, or_, select, update

from totpflow.server.domain.models import Project
from totpflow.server.storage.base import Queries
from totpflow.server.storage.records import ProjectRow, ProjectState, SigningKeyRow
from totpflow.server.storage.schema import projects, rbac_policies, signing_keys
from totpflow.server.storage.sql import Sql

_PID: BindParameter[str] = bindparam("pid")
_GET_PROJECT_SQL = Sql(
    "SELECT project_id, name, secret_hash, created_at FROM projects WHERE project_id = :pid"
)
# The project's secret hash and name and the highest generation of its signing keys, in one statement (an
# index seek each).
_PROJECT_STATE_SQL = Sql(
    "SELECT secret_hash, name, (SELECT max(generation) FROM signing_keys WHERE signing_keys.project_id = "
    "projects.project_id) FROM projects WHERE project_id = :pid"
)
_SIGNING_KEYS = """
    SELECT kid, private_key_enc, public_jwk, generation, superseded_at, created_at FROM signing_keys
    WHERE project_id = :pid AND active {live} ORDER BY generation DESC
"""
_ALL_SIGNING_KEYS_SQL = Sql(_SIGNING_KEYS.format(live=""))
_LIVE_SIGNING_KEYS_SQL = Sql(
    _SIGNING_KEYS.format(live="AND (superseded_at IS NULL OR superseded_at > :after)")
)
_RBAC_POLICY = select(rbac_policies.c.policy).where(rbac_policies.c.project_id == _PID)


class ProjectQueries(Queries):
    def insert_project(self, project: Project, secret_hash: bytes) -> bool:
        """Insert unless the id exists; True when inserted."""
        stmt = self._insert(projects).values(
            project_id=project.project_id,
            name=project.name,
            secret_hash=secret_hash,
            created_at=project.created_at,
        )
        # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT through SQLAlchemy.
        inserted = stmt.on_conflict_do_nothing().returning(projects.c.project_id)  # type: ignore[attr-defined]
        return self._c.execute(inserted).first() is not None

    def update_project(self, project_id: str, *, name: str, secret_hash: bytes) -> None:
        self._c.execute(
            update(projects)
            .where(projects.c.project_id == project_id)
            .values(name=name, secret_hash=secret_hash)
        )

    def get_project(self, project_id: str) -> ProjectRow | None:
        row = self._run(_GET_PROJECT_SQL, {"pid": project_id}).fetchone()
        if row is None:
            return None
        return ProjectRow(Project(row[0], row[1], self._b.read_ts(row[3])), bytes(row[2]))  # type: ignore[arg-type]

    def project_state(self, project_id: str) -> ProjectState | None:
        """The project's secret hash, name and the highest generation of its signing keys (0 when it has
        none): what a request confirms in its first transaction (``totpflow.server.services.credentials``)."""
        row = self._run(_PROJECT_STATE_SQL, {"pid": project_id}).fetchone()
        if row is None:
            return None
        return ProjectState(bytes(row[0]), row[1], int(row[2] or 0))

    def any_project(self) -> bool:
        return bool(self._c.execute(select(exists().select_from(projects))).scalar())

    def project_ids(self, limit: int) -> list[str]:
        """Up to ``limit`` project ids, oldest first."""
        query = select(projects.c.project_id).order_by(projects.c.created_at, projects.c.project_id)
        return [str(r.project_id) for r in self._c.execute(query.limit(limit)).all()]

    def signing_keys(
        self, project_id: str, *, superseded_after: datetime | None = None
    ) -> list[SigningKeyRow]:
        """The project's keys, newest generation first: those not superseded and those superseded after
        ``superseded_after`` (every key when None)."""
        b = self._b
        if superseded_after is None:
            cursor = self._run(_ALL_SIGNING_KEYS_SQL, {"pid": project_id})
        else:
            cursor = self._run(_LIVE_SIGNING_KEYS_SQL, {"pid": project_id, "after": b.ts(superseded_after)})
        return [
            SigningKeyRow(
                project_id,
                r[0],
                bytes(r[1]),
                dict(b.read_json(r[2])),
                generation=int(r[3]),
                superseded_at=b.read_ts(r[4]),
                created_at=b.read_ts(r[5]),
            )
            for r in cursor.fetchall()
        ]

    def latest_signing_generation(self, project_id: str) -> int:
        """The highest generation of the project's keys, 0 when it has none."""
        query = select(func.max(signing_keys.c.generation)).where(signing_keys.c.project_id == project_id)
        return int(self._c.execute(query).scalar() or 0)

    def supersede_signing_keys(self, project_id: str, below_generation: int, at: datetime) -> None:
        """Mark the keys older than ``below_generation`` as no longer signing from ``at`` (which may be
        ahead); a key already superseded earlier keeps its time."""
        self._c.execute(
            update(signing_keys)
            .where(
                signing_keys.c.project_id == project_id,
                signing_keys.c.generation < below_generation,
                or_(signing_keys.c.superseded_at.is_(None), signing_keys.c.superseded_at > at),
            )
            .values(superseded_at=at)
        )

    def insert_signing_key(
        self, project_id: str, generation: int, key: SigningKeyRow, created_at: datetime
    ) -> bool:
        """Insert generation ``generation`` of the project's key unless another process already has."""
        stmt = self._insert(signing_keys).values(
            kid=key.kid,
            project_id=project_id,
            generation=generation,
            private_key_enc=key.private_key_enc,
            public_jwk=key.public_jwk,
            created_at=created_at,
            active=True,
        )
        inserted = stmt.on_conflict_do_nothing().returning(signing_keys.c.kid)  # type: ignore[attr-defined]
        return self._c.execute(inserted).first() is not None

    # RBAC policy

    def rbac_policy(self, project_id: str) -> Any | None:
        """The project's stored policy document as stored (validated by the caller), None when it has
        none."""
        row = self._c.execute(_RBAC_POLICY, {"pid": project_id}).first()
        return None if row is None else row.policy

    def set_rbac_policy(self, project_id: str, document: dict[str, Any], now: datetime) -> None:
        """Store (insert or replace) the project's policy document."""
        stmt = self._insert(rbac_policies).values(project_id=project_id, policy=document, updated_at=now)
        self._c.execute(
            stmt.on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["project_id"], set_={"policy": document, "updated_at": now}
            )
        )
