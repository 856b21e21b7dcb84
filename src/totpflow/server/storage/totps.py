"""TOTPs and their recovery codes."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from totpflow.server import errors
from totpflow.server.storage.base import Queries
from totpflow.server.storage.records import RecoveryCodeRow, TotpRow
from totpflow.server.storage.schema import recovery_codes, totps
from totpflow.server.storage.sql import Sql

_INSERT_TOTP_SQL = Sql(
    """
    INSERT INTO totps (totp_id, project_id, user_id, secret_enc, verified, created_at, expires_at,
                       last_used_step, deleted)
    VALUES (:totp_id, :pid, :user_id, :secret_enc, :verified, :created_at, :expires_at, :last_used_step, :no)
    """
)
# RFC 6238 §5.2: a step is used once. The row count decides between concurrent callers.
_CONSUME_STEP_SQL = Sql(
    """
    UPDATE totps SET last_used_step = :step, verified = :yes
    WHERE project_id = :pid AND totp_id = :tid AND NOT deleted
      AND (last_used_step IS NULL OR last_used_step < :step)
    """
)
_LIVE_TOTP_SQL = Sql("SELECT 1 FROM totps WHERE project_id = :pid AND totp_id = :tid AND NOT deleted")
_RECOVERY_COLUMNS = "recovery_code_id, totp_id, code_enc, code_hash, used_at"
_FIND_RECOVERY_CODE_SQL = Sql(
    f"""
    SELECT {_RECOVERY_COLUMNS} FROM recovery_codes
    WHERE project_id = :pid AND totp_id = :tid AND code_hash = :hash
    """
)
_USE_RECOVERY_CODE_SQL = Sql(
    """
    UPDATE recovery_codes SET used_at = :now
    WHERE project_id = :pid AND totp_id = :tid AND recovery_code_id = :rid AND used_at IS NULL
    """
)


@functools.cache
def _insert_recovery_codes_sql(count: int) -> Sql:
    """One INSERT of ``count`` codes (one statement, not one per code)."""
    rows = ", ".join(f"(:id{i}, :pid, :tid{i}, {i}, :enc{i}, :hash{i}, NULL)" for i in range(count))
    return Sql(
        "INSERT INTO recovery_codes (recovery_code_id, project_id, totp_id, position, code_enc, code_hash,"
        f" used_at) VALUES {rows}"
    )


class TotpQueries(Queries):
    def retire_expired_totp(self, project_id: str, user_id: str, now: datetime) -> None:
        """An unverified TOTP past its expiry no longer counts as active: mark it deleted."""
        expired = select(totps.c.totp_id).where(
            totps.c.project_id == project_id,
            totps.c.user_id == user_id,
            ~totps.c.deleted,
            ~totps.c.verified,
            totps.c.expires_at <= now,
        )
        self._c.execute(delete(recovery_codes).where(recovery_codes.c.totp_id.in_(expired)))
        self._c.execute(
            update(totps)
            .where(
                totps.c.project_id == project_id,
                totps.c.user_id == user_id,
                ~totps.c.deleted,
                ~totps.c.verified,
                totps.c.expires_at <= now,
            )
            .values(deleted=True)
        )

    def insert_totp(self, project_id: str, row: TotpRow) -> None:
        """Raises ``ActiveTotpExists`` when the user already has a live TOTP (partial unique index), and
        ``UserNotFound`` when the user is gone."""
        ts = self._b.ts
        params = {
            "totp_id": row.totp_id,
            "pid": project_id,
            "user_id": row.user_id,
            "secret_enc": row.secret_enc,
            "verified": row.verified,
            "created_at": ts(row.created_at),
            "expires_at": ts(row.expires_at),
            "last_used_step": row.last_used_step,
            "no": False,
        }
        try:
            self._run(_INSERT_TOTP_SQL, params)
        except self._integrity_error as exc:
            if _foreign_key_violation(exc):  # the user was deleted since it was read (PostgreSQL)
                raise errors.UserNotFound("user_id") from exc
            raise errors.ActiveTotpExists("user_id") from exc

    def insert_recovery_codes(self, project_id: str, rows: Sequence[RecoveryCodeRow]) -> None:
        if not rows:
            return
        params: dict[str, Any] = {"pid": project_id}
        for i, r in enumerate(rows):
            params[f"id{i}"] = r.recovery_code_id
            params[f"tid{i}"] = r.totp_id
            params[f"enc{i}"] = r.code_enc
            params[f"hash{i}"] = r.code_hash
        self._run(_insert_recovery_codes_sql(len(rows)), params)

    def totp_is_live(self, project_id: str, totp_id: str) -> bool:
        """Whether the TOTP is there and not deleted, as committed now."""
        return self._run(_LIVE_TOTP_SQL, {"pid": project_id, "tid": totp_id}).fetchone() is not None

    def consume_totp_step(self, project_id: str, totp_id: str, step: int) -> bool:
        """RFC 6238 §5.2 one-time use: record ``step`` only if it is newer than the last used one. A code
        that is accepted also verifies its TOTP, in the same statement (a verified one stays verified)."""
        params = {"pid": project_id, "tid": totp_id, "step": step, "yes": True}
        return bool(self._run(_CONSUME_STEP_SQL, params).rowcount == 1)

    def delete_totp(self, project_id: str, totp_id: str) -> str | None:
        """Soft-delete a live TOTP and drop its recovery codes; returns its user's id, or None if not
        found."""
        row = self._c.execute(
            select(totps.c.user_id).where(
                totps.c.project_id == project_id, totps.c.totp_id == totp_id, ~totps.c.deleted
            )
        ).first()
        if row is None:
            return None
        self._c.execute(delete(recovery_codes).where(recovery_codes.c.totp_id == totp_id))
        self._c.execute(
            update(totps)
            .where(totps.c.project_id == project_id, totps.c.totp_id == totp_id)
            .values(deleted=True)
        )
        return str(row.user_id)

    def recovery_codes(self, project_id: str, totp_id: str, *, unused_only: bool) -> list[RecoveryCodeRow]:
        query = select(recovery_codes).where(
            recovery_codes.c.project_id == project_id, recovery_codes.c.totp_id == totp_id
        )
        if unused_only:
            query = query.where(recovery_codes.c.used_at.is_(None))
        return [_recovery_row(r) for r in self._c.execute(query.order_by(recovery_codes.c.position)).all()]

    def find_recovery_code(self, project_id: str, totp_id: str, code_hash: bytes) -> RecoveryCodeRow | None:
        params = {"pid": project_id, "tid": totp_id, "hash": code_hash}
        row = self._run(_FIND_RECOVERY_CODE_SQL, params).fetchone()
        if row is None:
            return None
        return RecoveryCodeRow(
            recovery_code_id=row[0],
            totp_id=row[1],
            code_enc=bytes(row[2]),
            code_hash=bytes(row[3]),
            used_at=self._b.read_ts(row[4]),
        )

    def use_recovery_code(self, project_id: str, totp_id: str, recovery_code_id: str, now: datetime) -> bool:
        """Single use: only the first of any number of concurrent callers changes the row."""
        params = {"pid": project_id, "tid": totp_id, "rid": recovery_code_id, "now": self._b.ts(now)}
        return bool(self._run(_USE_RECOVERY_CODE_SQL, params).rowcount == 1)


def _recovery_row(row: Any) -> RecoveryCodeRow:
    return RecoveryCodeRow(
        recovery_code_id=row.recovery_code_id,
        totp_id=row.totp_id,
        code_enc=bytes(row.code_enc),
        code_hash=bytes(row.code_hash),
        used_at=row.used_at,
    )


def _foreign_key_violation(exc: Exception) -> bool:
    """Whether a driver's integrity error is a foreign key's (psycopg: SQLSTATE 23503; sqlite3: its error
    name), not a unique index's."""
    return getattr(exc, "sqlstate", None) == "23503" or (
        getattr(exc, "sqlite_errorname", None) == "SQLITE_CONSTRAINT_FOREIGNKEY"
    )
