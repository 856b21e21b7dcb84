"""Recovery codes keyed by their TOTP and position.

The primary key of ``recovery_codes`` becomes ``(totp_id, position)`` and the index on ``(totp_id,
code_hash)`` goes: every query reaches a code through its TOTP, and the ten codes of a new TOTP now go into
one place of one index instead of ten random pages of the index on their ids. ``recovery_code_id`` stays, a
uuid4 without an index. The data does not change. SQLite rebuilds the table.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recovery_codes") as batch:
        batch.drop_index(batch.f("ix_recovery_codes_totp_id_code_hash"))
        batch.drop_constraint(batch.f("pk_recovery_codes"), type_="primary")
        batch.create_primary_key(batch.f("pk_recovery_codes"), ["totp_id", "position"])


def downgrade() -> None:
    with op.batch_alter_table("recovery_codes") as batch:
        batch.drop_constraint(batch.f("pk_recovery_codes"), type_="primary")
        batch.create_primary_key(batch.f("pk_recovery_codes"), ["recovery_code_id"])
        batch.create_index(batch.f("ix_recovery_codes_totp_id_code_hash"), ["totp_id", "code_hash"])
