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

The rows are read as one ordered stream, :data:`_BATCH` at a time (a server-side cursor on PostgreSQL;
SQLite steps its statement as rows are fetched), so memory stays flat for any number of rows. The warnings
are handed to ``migrate.upgrade`` (``config.attributes["warnings"]``), which logs them once the upgrade has
committed: a migration that rolls back reports nothing it did not do. Run without that list (Alembic driven
some other way), each warning is logged at once and says it is provisional.

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
from alembic import context, op

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
_BATCH = 1000  # rows fetched at a time


def _key(address: str) -> str:
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", address).lower())


def _warn(message: str, *args: object) -> None:
    """Report ``message`` once the upgrade has committed (``migrate.upgrade`` logs what it finds in
    ``config.attributes["warnings"]`` after its commit); without that list, at once, marked provisional."""
    deferred = context.config.attributes.get("warnings")
    if deferred is None:
        logger.warning(message + " (provisional: reported before the migration's commit)", *args)
    else:
        deferred.append((message, args))


def upgrade() -> None:
    connection = op.get_bind()
    # Oldest user first (then by id, as the user listings order them): of rows that would take one key, a
    # row holding it already keeps it, else the oldest user's row takes it. A row is only ever updated after
    # it was read, so the open stream never meets a row it has yet to return changed.
    rows = connection.execute(
        sa.select(_emails.c.email_id, _emails.c.project_id, _emails.c.email, _emails.c.email_key)
        .join(_users, _users.c.user_id == _emails.c.user_id)
        .order_by(_users.c.created_at, _users.c.user_id, _emails.c.email_id),
        execution_options={"yield_per": _BATCH},  # this statement only: the updates use plain cursors
    )
    try:
        for batch in rows.partitions():
            for email_id, project_id, email, old_key in batch:
                _rekey(connection, email_id, project_id, old_key, _key(email))
    finally:
        rows.close()


def _rekey(connection: sa.Connection, email_id: str, project_id: str, old_key: str, new_key: str) -> None:
    """Give the row ``new_key`` unless it is its key already, is too long, or another row holds it."""
    if new_key == old_key:
        return
    if len(new_key) > _MAX_KEY_LENGTH:
        _warn(
            "email %s keeps its old unique key: its address in Unicode NFC is longer than a key may be "
            "(%d characters; project %s)",
            email_id,
            _MAX_KEY_LENGTH,
            project_id,
        )
        return
    holder = connection.execute(
        sa.select(_emails.c.email_id).where(
            _emails.c.project_id == project_id, _emails.c.email_key == new_key
        )
    ).scalar()
    if holder is not None:
        _warn(
            "email %s keeps its old unique key: its address is the address of email %s in another "
            "Unicode spelling (project %s); merge the two users (one address, two users)",
            email_id,
            holder,
            project_id,
        )
        return
    connection.execute(
        sa.update(_emails)
        .where(_emails.c.email_id == email_id, _emails.c.email_key == old_key)
        .values(email_key=new_key)
    )


def downgrade() -> None:
    pass
