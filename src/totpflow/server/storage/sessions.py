"""Sessions (stored by the hash of their token) and their authentication factors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update

from totpflow.server.domain.models import AuthenticationFactor, Session
from totpflow.server.storage.base import Queries
from totpflow.server.storage.records import SessionRow
from totpflow.server.storage.schema import session_factors, sessions
from totpflow.server.storage.sql import Sql

_SESSION_FACTORS = (
    select(session_factors)
    .where(session_factors.c.session_id == bindparam("sid"))
    .order_by(session_factors.c.created_at, session_factors.c.type)
)
_SESSION_WITH_FACTORS = """
    SELECT s.session_id, s.user_id, s.token_hash, s.started_at, s.last_accessed_at, s.expires_at,
           s.revoked_at, s.custom_claims, s.attributes, s.roles, f.type, f.delivery_method, f.factor_id,
           f.created_at, f.last_authenticated_at, f.updated_at
    FROM sessions s LEFT JOIN session_factors f ON f.session_id = s.session_id
    WHERE s.project_id = :pid AND {which}
    ORDER BY f.created_at, f.type
"""
# A session and its factors in one statement: a row per factor (the session's columns repeated).
_SESSION_BY_TOKEN_SQL = Sql(_SESSION_WITH_FACTORS.format(which="s.token_hash = :key"))
_SESSION_BY_ID_SQL = Sql(_SESSION_WITH_FACTORS.format(which="s.session_id = :key"))
_INSERT_SESSION_SQL = Sql(
    """
    INSERT INTO sessions (session_id, project_id, user_id, token_hash, started_at, last_accessed_at,
                          expires_at, revoked_at, custom_claims, attributes, roles)
    VALUES (:session_id, :pid, :user_id, :token_hash, :started_at, :last_accessed_at, :expires_at, NULL,
            :custom_claims, :attributes, :roles)
    """
)
# Insert a session factor or, when the session has one of that type and delivery method, take the new
# factor id and times but keep its ``created_at``.
_UPSERT_FACTOR_SQL = Sql(
    """
    INSERT INTO session_factors (session_id, type, delivery_method, factor_id, created_at,
                                 last_authenticated_at, updated_at)
    VALUES (:session_id, :type, :delivery_method, :factor_id, :created_at, :last_authenticated_at,
            :updated_at)
    ON CONFLICT (session_id, type, delivery_method) DO UPDATE SET
        factor_id = excluded.factor_id,
        last_authenticated_at = excluded.last_authenticated_at,
        updated_at = excluded.updated_at
    """
)
# The claims a merge starts from. On PostgreSQL the row is locked until the transaction ends, so concurrent
# merges into one session apply one after another and none is lost; a SQLite write transaction holds the
# database's write lock already.
_CLAIMS_SQL = (
    "SELECT custom_claims FROM sessions WHERE project_id = :pid AND session_id = :sid AND revoked_at IS NULL"
)
_CLAIMS_FOR_UPDATE_SQL = {"sqlite": Sql(_CLAIMS_SQL), "postgresql": Sql(_CLAIMS_SQL + " FOR UPDATE")}
_REVOKE_SESSION_SQL = Sql(
    """
    UPDATE sessions SET revoked_at = :now
    WHERE project_id = :pid AND session_id = :sid AND revoked_at IS NULL
    """
)


class SessionQueries(Queries):
    def insert_session(self, project_id: str, session: Session, token_hash: bytes) -> None:
        b = self._b
        self._run(
            _INSERT_SESSION_SQL,
            {
                "session_id": session.session_id,
                "pid": project_id,
                "user_id": session.user_id,
                "token_hash": token_hash,
                "started_at": b.ts(session.started_at),
                "last_accessed_at": b.ts(session.last_accessed_at),
                "expires_at": b.ts(session.expires_at),
                "custom_claims": b.json(session.custom_claims),
                "attributes": b.json(session.attributes),
                "roles": b.json(list(session.roles)),
            },
        )

    def session_by_token_hash(self, project_id: str, token_hash: bytes) -> SessionRow | None:
        return self._one_session(_SESSION_BY_TOKEN_SQL, {"pid": project_id, "key": token_hash})

    def session_by_id(self, project_id: str, session_id: str) -> SessionRow | None:
        return self._one_session(_SESSION_BY_ID_SQL, {"pid": project_id, "key": session_id})

    def _one_session(self, query: Sql, params: dict[str, Any]) -> SessionRow | None:
        rows = self._run(query, params).fetchall()
        if not rows:
            return None
        b = self._b
        r = rows[0]
        factors = tuple(
            _factor_of(f[10], f[11], f[12], b.read_ts(f[13]), b.read_ts(f[14]), b.read_ts(f[15]))
            for f in rows
            if f[10] is not None
        )
        session = Session(
            session_id=r[0],
            user_id=r[1],
            started_at=b.read_ts(r[3]),  # type: ignore[arg-type]
            last_accessed_at=b.read_ts(r[4]),  # type: ignore[arg-type]
            expires_at=b.read_ts(r[5]),  # type: ignore[arg-type]
            authentication_factors=factors,
            roles=tuple(b.read_json(r[9])),
            attributes=dict(b.read_json(r[8])),
            custom_claims=dict(b.read_json(r[7])),
        )
        return SessionRow(session, bytes(r[2]), b.read_ts(r[6]))

    def _session(self, row: Any) -> Session:
        factors = self._c.execute(_SESSION_FACTORS, {"sid": row.session_id}).all()
        return Session(
            session_id=row.session_id,
            user_id=row.user_id,
            started_at=row.started_at,
            last_accessed_at=row.last_accessed_at,
            expires_at=row.expires_at,
            authentication_factors=tuple(_factor(f) for f in factors),
            roles=tuple(row.roles),
            attributes=dict(row.attributes),
            custom_claims=dict(row.custom_claims),
        )

    def session_claims_for_update(self, project_id: str, session_id: str) -> dict[str, Any] | None:
        """The session's custom claims as committed, its row locked until the transaction ends; None when it
        is revoked or gone."""
        query = _CLAIMS_FOR_UPDATE_SQL[self._b.dialect]
        row = self._run(query, {"pid": project_id, "sid": session_id}).fetchone()
        return None if row is None else dict(self._b.read_json(row[0]))

    def update_session(
        self,
        project_id: str,
        session_id: str,
        *,
        last_accessed_at: datetime,
        expires_at: datetime | None = None,
        custom_claims: dict[str, Any] | None = None,
        roles: tuple[str, ...] | None = None,
    ) -> bool:
        """Touch a session that is not revoked; False if it is (a revocation committed since it was read:
        on PostgreSQL this UPDATE waits for it, then finds the row no longer matches)."""
        values: dict[str, Any] = {"last_accessed_at": last_accessed_at}
        if expires_at is not None:
            values["expires_at"] = expires_at
        if custom_claims is not None:
            values["custom_claims"] = custom_claims
        if roles is not None:
            values["roles"] = list(roles)
        result = self._c.execute(
            update(sessions)
            .where(
                sessions.c.project_id == project_id,
                sessions.c.session_id == session_id,
                sessions.c.revoked_at.is_(None),
            )
            .values(**values)
        )
        return bool(result.rowcount == 1)

    def upsert_factor(self, session_id: str, factor: AuthenticationFactor) -> None:
        """Add the factor, or refresh ``last_authenticated_at``/``updated_at`` and its id if the session
        already has a factor of that type and delivery method (stytch-api.md §3.2)."""
        ts = self._b.ts
        factor_id = factor.totp_id if factor.totp_id is not None else factor.totp_recovery_code_id
        self._run(
            _UPSERT_FACTOR_SQL,
            {
                "session_id": session_id,
                "type": factor.type,
                "delivery_method": factor.delivery_method,
                "factor_id": factor_id,
                "created_at": ts(factor.created_at),
                "last_authenticated_at": ts(factor.last_authenticated_at),
                "updated_at": ts(factor.updated_at),
            },
        )

    def revoke_session(self, project_id: str, session_id: str, now: datetime) -> bool:
        params = {"pid": project_id, "sid": session_id, "now": self._b.ts(now)}
        return bool(self._run(_REVOKE_SESSION_SQL, params).rowcount == 1)

    def active_sessions(self, project_id: str, user_id: str, now: datetime) -> list[Session]:
        rows = self._c.execute(
            select(sessions)
            .where(
                sessions.c.project_id == project_id,
                sessions.c.user_id == user_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
            )
            .order_by(sessions.c.started_at, sessions.c.session_id)
        ).all()
        return [self._session(r) for r in rows]


def _factor(row: Any) -> AuthenticationFactor:
    return _factor_of(
        row.type,
        row.delivery_method,
        row.factor_id,
        row.created_at,
        row.last_authenticated_at,
        row.updated_at,
    )


def _factor_of(
    type_: Any,
    delivery_method: Any,
    factor_id: str,
    created_at: Any,
    last_authenticated_at: Any,
    updated_at: Any,
) -> AuthenticationFactor:
    is_totp = type_ == "totp"
    return AuthenticationFactor(
        type=type_,
        delivery_method=delivery_method,
        created_at=created_at,
        last_authenticated_at=last_authenticated_at,
        updated_at=updated_at,
        totp_id=factor_id if is_totp else None,
        totp_recovery_code_id=None if is_totp else factor_id,
    )
