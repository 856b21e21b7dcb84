"""TOTPs and their recovery codes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from totpflow.server import errors
from totpflow.server.storage.base import Queries
from totpflow.server.storage.records import RecoveryCodeRow, TotpRow
from totpflow.server.storage.schema import recovery_codes, totps

_PID: BindParameter[str] = bindparam("pid")
_UID: BindParameter[str] = bindparam("uid")
_LIVE_TOTP = select(totps).where(totps.c.project_id == _PID, totps.c.user_id == _UID, ~totps.c.deleted)
_INSERT_TOTP = totps.insert()
_INSERT_RECOVERY_CODES = recovery_codes.insert()
_CONSUME_STEP = (
    update(totps)
    .where(
        totps.c.project_id == _PID,
        totps.c.totp_id == bindparam("tid"),
        ~totps.c.deleted,
        or_(totps.c.last_used_step.is_(None), totps.c.last_used_step < bindparam("step")),
    )
    .values(last_used_step=bindparam("step"), verified=True)
)


class TotpQueries(Queries):
    def live_totp(self, project_id: str, user_id: str) -> TotpRow | None:
        row = self._c.execute(_LIVE_TOTP, {"pid": project_id, "uid": user_id}).first()
        return None if row is None else _totp_row(row)

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
        """Raises ``ActiveTotpExists`` when the user already has a live TOTP (partial unique index)."""
        try:
            self._c.execute(
                _INSERT_TOTP,
                {
                    "totp_id": row.totp_id,
                    "project_id": project_id,
                    "user_id": row.user_id,
                    "secret_enc": row.secret_enc,
                    "verified": row.verified,
                    "created_at": row.created_at,
                    "expires_at": row.expires_at,
                    "last_used_step": row.last_used_step,
                    "deleted": False,
                },
            )
        except IntegrityError as exc:
            raise errors.ActiveTotpExists("user_id") from exc

    def insert_recovery_codes(self, project_id: str, rows: Sequence[RecoveryCodeRow]) -> None:
        self._c.execute(
            _INSERT_RECOVERY_CODES,
            [
                {
                    "recovery_code_id": r.recovery_code_id,
                    "project_id": project_id,
                    "totp_id": r.totp_id,
                    "position": i,
                    "code_enc": r.code_enc,
                    "code_hash": r.code_hash,
                    "used_at": None,
                }
                for i, r in enumerate(rows)
            ],
        )

    def consume_totp_step(self, project_id: str, totp_id: str, step: int) -> bool:
        """RFC 6238 §5.2 one-time use: record ``step`` only if it is newer than the last used one. A code
        that is accepted also verifies its TOTP, in the same statement (a verified one stays verified)."""
        result = self._c.execute(_CONSUME_STEP, {"pid": project_id, "tid": totp_id, "step": step})
        return result.rowcount == 1

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
        row = self._c.execute(
            select(recovery_codes).where(
                recovery_codes.c.project_id == project_id,
                recovery_codes.c.totp_id == totp_id,
                recovery_codes.c.code_hash == code_hash,
            )
        ).first()
        return None if row is None else _recovery_row(row)

    def use_recovery_code(self, project_id: str, recovery_code_id: str, now: datetime) -> bool:
        """Single use: only the first of any number of concurrent callers changes the row."""
        result = self._c.execute(
            update(recovery_codes)
            .where(
                recovery_codes.c.project_id == project_id,
                recovery_codes.c.recovery_code_id == recovery_code_id,
                recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=now)
        )
        return result.rowcount == 1


def _totp_row(row: Any) -> TotpRow:
    return TotpRow(
        totp_id=row.totp_id,
        user_id=row.user_id,
        secret_enc=bytes(row.secret_enc),
        verified=bool(row.verified),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_step=row.last_used_step,
    )


def _recovery_row(row: Any) -> RecoveryCodeRow:
    return RecoveryCodeRow(
        recovery_code_id=row.recovery_code_id,
        totp_id=row.totp_id,
        code_enc=bytes(row.code_enc),
        code_hash=bytes(row.code_hash),
        used_at=row.used_at,
    )
