"""Bind every stored secret to its owners: re-encrypt TOTP secrets, recovery codes and signing keys under
associated data naming their project, user, TOTP and own id (``totpflow.server.crypto.binding``), and
re-hash recovery codes with their owners.

Before, a ciphertext was bound only to its row id, so a TOTP row re-pointed at another user still decrypted.
The schema does not change; the data does, so this migration needs the master key: ``migrate.upgrade``
passes the process's ``Cipher`` in ``config.attributes["cipher"]``. A database with no stored secret
migrates without one. A secret that does not decrypt under its old binding stops the migration (its
transaction rolls back, nothing is half-written) with an error naming the row.

The bindings of both versions are written out here, not imported, so this migration keeps meaning what it
meant when later versions change them.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import json
from collections.abc import Callable

import sqlalchemy as sa
from alembic import context, op
from cryptography.exceptions import InvalidTag

from totpflow.server.crypto import Cipher, HashPurpose
from totpflow.server.errors import MasterKeyError

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_totps = sa.table(
    "totps",
    sa.column("totp_id", sa.String),
    sa.column("project_id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("secret_enc", sa.LargeBinary),
)
_codes = sa.table(
    "recovery_codes",
    sa.column("recovery_code_id", sa.String),
    sa.column("project_id", sa.String),
    sa.column("totp_id", sa.String),
    sa.column("code_enc", sa.LargeBinary),
    sa.column("code_hash", sa.LargeBinary),
)
_keys = sa.table(
    "signing_keys",
    sa.column("kid", sa.String),
    sa.column("project_id", sa.String),
    sa.column("private_key_enc", sa.LargeBinary),
)


def _bound(purpose: str, *owners: str) -> str:
    return json.dumps([purpose, *owners], separators=(",", ":"))


# (old binding, new binding) of each kind of secret, and of a recovery code's hash input.
def _totp_old(project_id: str, user_id: str, totp_id: str) -> str:
    return f"totp-secret:{totp_id}"


def _totp_new(project_id: str, user_id: str, totp_id: str) -> str:
    return _bound("totp-secret", project_id, user_id, totp_id)


def _code_old(project_id: str, user_id: str, totp_id: str, code_id: str) -> str:
    return f"recovery-code:{code_id}"


def _code_new(project_id: str, user_id: str, totp_id: str, code_id: str) -> str:
    return _bound("recovery-code", project_id, user_id, totp_id, code_id)


def _hash_old(project_id: str, user_id: str, totp_id: str, code: str) -> str:
    return f"{totp_id}:{code}"


def _hash_new(project_id: str, user_id: str, totp_id: str, code: str) -> str:
    return _bound("recovery-code-hash", project_id, user_id, totp_id, code)


def _key_old(project_id: str, kid: str) -> str:
    return f"signing-key:{kid}"


def _key_new(project_id: str, kid: str) -> str:
    return _bound("signing-key", project_id, kid)


def _cipher(connection: sa.Connection) -> Cipher | None:
    """The process's cipher; ``MasterKeyError`` when there are secrets to re-encrypt and none was given."""
    cipher = context.config.attributes.get("cipher")
    if cipher is None:
        stored = sum(
            int(connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for table in (_totps, _codes, _keys)
        )
        if stored:
            raise MasterKeyError(
                "this database's stored secrets are re-encrypted by the schema migration 0003, which needs "
                "the master key it was created with"
            )
        return None
    assert isinstance(cipher, Cipher)
    return cipher


def _reopen(cipher: Cipher, blob: bytes, old: str, new: str, what: str) -> tuple[bytes, bytes]:
    try:
        plain = cipher.decrypt(blob, old)
    except InvalidTag:
        raise MasterKeyError(
            f"the stored {what} does not decrypt with this master key (or was altered); nothing was migrated"
        ) from None
    return plain, cipher.encrypt(plain, new)


def _rebind(
    totp_from: Callable[[str, str, str], str],
    totp_to: Callable[[str, str, str], str],
    code_from: Callable[[str, str, str, str], str],
    code_to: Callable[[str, str, str, str], str],
    hash_to: Callable[[str, str, str, str], str],
    key_from: Callable[[str, str], str],
    key_to: Callable[[str, str], str],
) -> None:
    connection = op.get_bind()
    cipher = _cipher(connection)
    if cipher is None:
        return
    for t in connection.execute(sa.select(_totps)).all():
        _, enc = _reopen(
            cipher,
            bytes(t.secret_enc),
            totp_from(t.project_id, t.user_id, t.totp_id),
            totp_to(t.project_id, t.user_id, t.totp_id),
            f"TOTP secret of {t.totp_id}",
        )
        connection.execute(sa.update(_totps).where(_totps.c.totp_id == t.totp_id).values(secret_enc=enc))
    owners = sa.select(_codes, _totps.c.user_id).join(_totps, _totps.c.totp_id == _codes.c.totp_id)
    for c in connection.execute(owners).all():
        ids = (c.project_id, c.user_id, c.totp_id)
        plain, enc = _reopen(
            cipher,
            bytes(c.code_enc),
            code_from(*ids, c.recovery_code_id),
            code_to(*ids, c.recovery_code_id),
            f"recovery code {c.recovery_code_id}",
        )
        code_hash = cipher.keyed_hash(HashPurpose.RECOVERY_CODE, hash_to(*ids, plain.decode("utf-8")))
        connection.execute(
            sa.update(_codes)
            .where(_codes.c.recovery_code_id == c.recovery_code_id)
            .values(code_enc=enc, code_hash=code_hash)
        )
    for k in connection.execute(sa.select(_keys)).all():
        _, enc = _reopen(
            cipher,
            bytes(k.private_key_enc),
            key_from(k.project_id, k.kid),
            key_to(k.project_id, k.kid),
            f"signing key {k.kid}",
        )
        connection.execute(sa.update(_keys).where(_keys.c.kid == k.kid).values(private_key_enc=enc))


def upgrade() -> None:
    _rebind(_totp_old, _totp_new, _code_old, _code_new, _hash_new, _key_old, _key_new)


def downgrade() -> None:
    _rebind(_totp_new, _totp_old, _code_new, _code_old, _hash_old, _key_new, _key_old)
