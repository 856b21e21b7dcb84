"""Email keys normalised to Unicode NFC: ``email_key`` becomes ``NFC(lower(NFC(email)))`` (was
``lower(email)``), so that two spellings of one address (a composed ``é`` and ``e`` + U+0301; an IDN domain
in two normal forms) are one key, and a second user can no longer be created under the other spelling.

The schema does not change; the keys do, recomputed here in Python (neither database has NFC in SQL that
both share). A key that does not change is kept. The others are rewritten oldest user first; when the new
key is already held in the project (two users the old rule kept apart: the same address in two spellings),
the row keeps its old key, still unique, so no user or address is lost, and a warning names both email ids
for the operator to merge the users. A key NFC would make longer than a key may be (254 characters, which
the old rule checked on the address; some characters grow under NFC) is not written either: that row keeps
its old key, with a warning naming it. Nothing secret is logged (ids only, never an address).

The key function is written out here, not imported, so this migration keeps meaning what it meant when later
versions change ``domain.emails.email_key``. Downgrade: nothing (a normalised key is a valid old key of its
row, unique as before; the old rule would only have let a duplicate in).

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import logging
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

logger = logging.getLogger("totpflow.server.migrations")

_emails = sa.table(
    "emails",
    sa.column("email_id", sa.String),
    sa.column("project_id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("email", sa.String),
    sa.column("email_key", sa.String),
)
_users = sa.table(
    "users",
    sa.column("user_id", sa.String),
    sa.column("created_at", sa.DateTime),
)


_MAX_KEY_LENGTH = 254  # as domain.emails checks a new key (RFC 5321's path limit)


def _key(address: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", address).lower())


def upgrade() -> None:
    connection = op.get_bind()
    # Oldest user first (then by id, as the user listings order them): of rows that would take one key, a
    # row holding it already keeps it, else the oldest user's row takes it.
    rows = connection.execute(
        sa.select(_emails.c.email_id, _emails.c.project_id, _emails.c.email, _emails.c.email_key)
        .join(_users, _users.c.user_id == _emails.c.user_id)
        .order_by(_users.c.created_at, _users.c.user_id, _emails.c.email_id)
    ).all()
    changes = [
        (r.email_id, r.project_id, r.email_key, _key(r.email)) for r in rows if _key(r.email) != r.email_key
    ]
    for email_id, project_id, old_key, new_key in changes:
        if len(new_key) > _MAX_KEY_LENGTH:
            logger.warning(
                "email %s keeps its old unique key: its address in Unicode NFC is longer than a key may be "
                "(%d characters; project %s)",
                email_id,
                _MAX_KEY_LENGTH,
                project_id,
            )
            continue
        holder = connection.execute(
            sa.select(_emails.c.email_id).where(
                _emails.c.project_id == project_id, _emails.c.email_key == new_key
            )
        ).scalar()
        if holder is not None:
            logger.warning(
                "email %s keeps its old unique key: its address is the address of email %s in another "
                "Unicode spelling (project %s); merge the two users (one address, two users)",
                email_id,
                holder,
                project_id,
            )
            continue
        connection.execute(
            sa.update(_emails)
            .where(_emails.c.email_id == email_id, _emails.c.email_key == old_key)
            .values(email_key=new_key)
        )


def downgrade() -> None:
    pass
