"""The store's master-key check (``schema.master_key_check``), and one sample of what the store holds
encrypted, for a store that has no check yet."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from totpflow.server.storage.base import Queries
from totpflow.server.storage.records import EncryptedSample
from totpflow.server.storage.schema import master_key_check, signing_keys, totps

_CHECK_ROW = 1


class MasterKeyQueries(Queries):
    def master_key_check(self) -> bytes | None:
        row = self._c.execute(
            select(master_key_check.c.check_enc).where(master_key_check.c.id == _CHECK_ROW)
        ).first()
        return None if row is None else bytes(row.check_enc)

    def insert_master_key_check(self, check_enc: bytes, now: datetime) -> None:
        """Insert the check unless one exists (another process may have written it first)."""
        self._c.execute(
            self._insert(master_key_check)
            .values(id=_CHECK_ROW, check_enc=check_enc, created_at=now)
            .on_conflict_do_nothing()  # type: ignore[attr-defined]
        )

    def encrypted_sample(self) -> EncryptedSample | None:
        """The newest signing key, else any TOTP secret: something the store holds under its master key."""
        key = self._c.execute(
            select(signing_keys.c.project_id, signing_keys.c.kid, signing_keys.c.private_key_enc)
            .order_by(signing_keys.c.created_at.desc())
            .limit(1)
        ).first()
        if key is not None:
            return EncryptedSample("signing-key", (key.project_id, key.kid), bytes(key.private_key_enc))
        totp = self._c.execute(
            select(totps.c.project_id, totps.c.user_id, totps.c.totp_id, totps.c.secret_enc).limit(1)
        ).first()
        if totp is not None:
            return EncryptedSample(
                "totp-secret", (totp.project_id, totp.user_id, totp.totp_id), bytes(totp.secret_enc)
            )
        return None
