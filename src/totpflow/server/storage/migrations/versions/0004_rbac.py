"""RBAC: a policy per project, and the roles a session carries.

* ``rbac_policies``: the project's policy document (a project without a row has only ``stytch_user``).
* ``sessions.roles``: the user's roles as of the session's last authentication; existing sessions take their
  user's current roles.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rbac_policies",
        sa.Column("project_id", sa.String(length=96), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.project_id"],
            name=op.f("fk_rbac_policies_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_rbac_policies")),
    )
    op.add_column("sessions", sa.Column("roles", sa.JSON(), nullable=True))
    op.execute(
        "UPDATE sessions SET roles = (SELECT users.roles FROM users WHERE users.user_id = sessions.user_id)"
    )
    with op.batch_alter_table("sessions") as batch:  # SQLite rebuilds the table
        batch.alter_column("roles", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("roles")
    op.drop_table("rbac_policies")
