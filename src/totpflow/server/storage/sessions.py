"""Sessions (stored by the hash of their token) and their authentication factors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, select, update

from totpflow.server.domain.models import AuthenticationFactor, Session
from totpflow.server.storage.base import Queries, by_dialect
from totpflow.server.storage.records import SessionRow
from totpflow.server.storage.schema import session_factors, sessions

_PID: BindParameter[str] = bindparam("pid")
_SESSION_BY_ID = select(sessions).where(
    sessions.c.project_id == _PID, sessions.c.session_id == bindparam("sid")
)
_SESSION_BY_TOKEN = select(sessions).where(
    sessions.c.project_id == _PID, sessions.c.token_hash == bindparam("th")
)
_SESSION_FACTORS = (
    select(session_factors)
    .where(session_factors.c.session_id == bindparam("sid"))
    .order_by(session_factors.c.created_at, session_factors.c.type)
)
_INSERT_SESSION = sessions.insert()


def _upsert_factor_statement(dialect: Any) -> Any:
    """Insert a session factor or, when the session has one of that type and delivery method, take the new
    factor id and times but keep its ``created_at``."""
    stmt = dialect.insert(session_factors)
    return stmt.on_conflict_do_update(
        index_elements=["session_id", "type", "delivery_method"],
        set_={
            "factor_id": stmt.excluded.factor_id,
            "last_authenticated_at": stmt.excluded.last_authenticated_at,
            "updated_at": stmt.excluded.updated_at,
        },
    )


_UPSERT_FACTOR = by_dialect(_upsert_factor_statement)


class SessionQueries(Queries):
    def insert_session(self, project_id: str, session: Session, token_hash: bytes) -> None:
        self._c.execute(
            _INSERT_SESSION,
            {
                "session_id": session.session_id,
                "project_id": project_id,
                "user_id": session.user_id,
                "token_hash": token_hash,
                "started_at": session.started_at,
                "last_accessed_at": session.last_accessed_at,
                "expires_at": session.expires_at,
                "revoked_at": None,
                "custom_claims": session.custom_claims,
                "attributes": session.attributes,
                "roles": list(session.roles),
            },
        )

    def session_by_token_hash(self, project_id: str, token_hash: bytes) -> SessionRow | None:
        return self._one_session(_SESSION_BY_TOKEN, {"pid": project_id, "th": token_hash})

    def session_by_id(self, project_id: str, session_id: str) -> SessionRow | None:
        return self._one_session(_SESSION_BY_ID, {"pid": project_id, "sid": session_id})

    def _one_session(self, statement: Any, params: dict[str, Any]) -> SessionRow | None:
        row = self._c.execute(statement, params).first()
        if row is None:
            return None
        return SessionRow(self._session(row), bytes(row.token_hash), row.revoked_at)

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

    def update_session(
        self,
        project_id: str,
        session_id: str,
        *,
        last_accessed_at: datetime,
        expires_at: datetime | None = None,
        custom_claims: dict[str, Any] | None = None,
        roles: tuple[str, ...] | None = None,
    ) -> None:
        values: dict[str, Any] = {"last_accessed_at": last_accessed_at}
        if expires_at is not None:
            values["expires_at"] = expires_at
        if custom_claims is not None:
            values["custom_claims"] = custom_claims
        if roles is not None:
            values["roles"] = list(roles)
        self._c.execute(
            update(sessions)
            .where(sessions.c.project_id == project_id, sessions.c.session_id == session_id)
            .values(**values)
        )

    def upsert_factor(self, session_id: str, factor: AuthenticationFactor) -> None:
        """Add the factor, or refresh ``last_authenticated_at``/``updated_at`` and its id if the session
        already has a factor of that type and delivery method (stytch-api.md §3.2)."""
        factor_id = factor.totp_id if factor.totp_id is not None else factor.totp_recovery_code_id
        self._c.execute(
            _UPSERT_FACTOR[self._c.dialect.name],
            {
                "session_id": session_id,
                "type": factor.type,
                "delivery_method": factor.delivery_method,
                "factor_id": factor_id,
                "created_at": factor.created_at,
                "last_authenticated_at": factor.last_authenticated_at,
                "updated_at": factor.updated_at,
            },
        )

    def revoke_session(self, project_id: str, session_id: str, now: datetime) -> bool:
        result = self._c.execute(
            update(sessions)
            .where(
                sessions.c.project_id == project_id,
                sessions.c.session_id == session_id,
                sessions.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        return result.rowcount == 1

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
    is_totp = row.type == "totp"
    return AuthenticationFactor(
        type=row.type,
        delivery_method=row.delivery_method,
        created_at=row.created_at,
        last_authenticated_at=row.last_authenticated_at,
        updated_at=row.updated_at,
        totp_id=row.factor_id if is_totp else None,
        totp_recovery_code_id=None if is_totp else row.factor_id,
    )
