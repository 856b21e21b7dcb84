"""Initial schema: projects, signing keys, users with emails and phone numbers, TOTPs, recovery codes,
sessions and their factors.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("project_id", sa.String(length=96), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_projects")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(length=96), nullable=False),
        sa.Column("project_id", sa.String(length=96), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("private_key_enc", sa.LargeBinary(), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.project_id"],
            name=op.f("fk_signing_keys_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_keys")),
        sa.UniqueConstraint("project_id", "generation", name=op.f("uq_signing_keys_project_id_generation")),
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.String(length=96), nullable=False),
        sa.Column("project_id", sa.String(length=96), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("name", sa.JSON(), nullable=True),
        sa.Column("trusted_metadata", sa.JSON(), nullable=False),
        sa.Column("untrusted_metadata", sa.JSON(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("lock_created_at", sa.DateTime(), nullable=True),
        sa.Column("lock_expires_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.project_id"],
            name=op.f("fk_users_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
        sa.UniqueConstraint("project_id", "external_id", name=op.f("uq_users_project_id_external_id")),
    )
    op.create_index(
        op.f("ix_users_project_id_created_at_user_id"),
        "users",
        ["project_id", "created_at", "user_id"],
        unique=False,
    )
    op.create_table(
        "emails",
        sa.Column("email_id", sa.String(length=96), nullable=False),
        sa.Column("project_id", sa.String(length=96), nullable=False),
        sa.Column("user_id", sa.String(length=96), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name=op.f("fk_emails_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("email_id", name=op.f("pk_emails")),
        sa.UniqueConstraint("project_id", "email_key", name=op.f("uq_emails_project_id_email_key")),
    )
    op.create_index(op.f("ix_emails_user_id"), "emails", ["user_id"], unique=False)
    op.create_table(
        "phone_numbers",
        sa.Column("phone_id", sa.String(length=96), nullable=False),
        sa.Column("project_id", sa.String(length=96), nullable=False),
        sa.Column("user_id", sa.String(length=96), nullable=False),
        sa.Column("phone_number", sa.String(length=32), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name=op.f("fk_phone_numbers_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("phone_id", name=op.f("pk_phone_numbers")),
        sa.UniqueConstraint(
            "project_id", "phone_number", name=op.f("uq_phone_numbers_project_id_phone_number")
        ),
    )
    op.create_index(op.f("ix_phone_numbers_user_id"), "phone_numbers", ["user_id"], unique=False)
    op.create_table(
        "sessions",
        sa.Column("session_id", sa.String(length=96), nullable=False),
        sa.Column("project_id", sa.String(length=96), nullable=False),
        sa.Column("user_id", sa.String(length=96), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_accessed_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("custom_claims", sa.JSON(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name=op.f("fk_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_sessions_token_hash")),
    )
    op.create_index(op.f("ix_sessions_user_id"), "sessions", ["user_id"], unique=False)
    op.create_table(
        "totps",
        sa.Column("totp_id", sa.String(length=96), nullable=False),
        sa.Column("project_id", sa.String(length=96), nullable=False),
        sa.Column("user_id", sa.String(length=96), nullable=False),
        sa.Column("secret_enc", sa.LargeBinary(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("last_used_step", sa.BigInteger(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.user_id"], name=op.f("fk_totps_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("totp_id", name=op.f("pk_totps")),
    )
    op.create_index(op.f("ix_totps_user_id"), "totps", ["user_id"], unique=False)
    op.create_index(
        "uq_totps_user_live",
        "totps",
        ["user_id"],
        unique=True,
        sqlite_where=sa.text("deleted = 0"),
        postgresql_where=sa.text("NOT deleted"),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("recovery_code_id", sa.String(length=96), nullable=False),
        sa.Column("project_id", sa.String(length=96), nullable=False),
        sa.Column("totp_id", sa.String(length=96), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("code_enc", sa.LargeBinary(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["totp_id"], ["totps.totp_id"], name=op.f("fk_recovery_codes_totp_id_totps"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("recovery_code_id", name=op.f("pk_recovery_codes")),
    )
    op.create_index(
        op.f("ix_recovery_codes_totp_id_code_hash"), "recovery_codes", ["totp_id", "code_hash"], unique=False
    )
    op.create_table(
        "session_factors",
        sa.Column("session_id", sa.String(length=96), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("delivery_method", sa.String(length=32), nullable=False),
        sa.Column("factor_id", sa.String(length=96), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_authenticated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.session_id"],
            name=op.f("fk_session_factors_session_id_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", "type", "delivery_method", name=op.f("pk_session_factors")),
    )


def downgrade() -> None:
    op.drop_table("session_factors")
    op.drop_table("recovery_codes")
    op.drop_table("sessions")
    op.drop_table("totps")
    op.drop_table("phone_numbers")
    op.drop_table("emails")
    op.drop_table("users")
    op.drop_table("signing_keys")
    op.drop_table("projects")
