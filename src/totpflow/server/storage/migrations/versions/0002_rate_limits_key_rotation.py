"""Rate-limit counters and signing-key rotation.

* ``rate_counters``: fixed-window request counters, one row per project, bucket and window.
* ``signing_keys.superseded_at``: when a newer generation took over signing (NULL for the signing key).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_counters",
        sa.Column("project_id", sa.String(length=96), nullable=False),
        sa.Column("bucket", sa.String(length=160), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", "bucket", "window_start", name=op.f("pk_rate_counters")),
    )
    op.create_index(op.f("ix_rate_counters_expires_at"), "rate_counters", ["expires_at"], unique=False)
    op.add_column("signing_keys", sa.Column("superseded_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("signing_keys") as batch:  # SQLite rebuilds the table
        batch.drop_column("superseded_at")
    op.drop_index(op.f("ix_rate_counters_expires_at"), table_name="rate_counters")
    op.drop_table("rate_counters")
