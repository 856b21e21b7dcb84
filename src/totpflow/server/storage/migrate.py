"""Schema migrations, run programmatically on start-up (no ``alembic.ini`` needed at runtime).

A store whose schema is already at this release's head (``HEAD_REVISION``, read from Alembic's own version
table) is opened without importing Alembic: it and the parts of SQLAlchemy only it needs are about 11 MiB of
every server process that does not migrate (each ``--workers`` process; any restart on a current schema).

On PostgreSQL the migration runs under a transaction-level advisory lock, so any number of server
processes can start at once against one database: the first migrates, the others wait and then find
nothing to do. Processes of an earlier release must be stopped first: they go on writing by their own rules
(docs/configuration.md, "Upgrading").

A migration that rewrites stored secrets (0003 re-encrypts them under new bindings) needs the master key: the
caller passes its ``Cipher``, which reaches the migration as ``config.attributes["cipher"]``, on SQLite and
PostgreSQL alike. Without one such a migration refuses (``MasterKeyError``) unless there is nothing to
rewrite.

The upgrade is one transaction. A migration's warnings for the operator (0007's addresses kept apart) are
collected in ``config.attributes["warnings"]`` as ``(message, args)`` and logged (logger
``totpflow.server.migrations``) only once that transaction has committed: an upgrade that rolls back
reports nothing it did not do.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import Connection, Engine, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config

    from totpflow.server.crypto import Cipher

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ADVISORY_LOCK_KEY = 0x746F7470666C6F77 & 0x7FFFFFFFFFFFFFFF  # "totpflow"
# The revision this release's migrations end at (a test keeps it equal to Alembic's view of ``MIGRATIONS``).
HEAD_REVISION: Final = "0007"
VERSION_TABLE: Final = "alembic_version"

logger = logging.getLogger("totpflow.server.migrations")


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head", *, cipher: Cipher | None = None) -> None:
    """Bring the schema to ``revision``; ``cipher`` (under the master key) for migrations that rewrite
    stored secrets. A schema already at the head is left alone without Alembic."""
    if revision == "head":
        current = current_schema(engine)
        if current == head_revisions():
            return
        unknown = sorted(current - known_revisions())
        if unknown:
            from totpflow.server.errors import StoreUnavailable

            raise StoreUnavailable(
                f"the database's schema is at revision {', '.join(unknown)}, which this release of totpflow "
                f"does not know (its newest is {HEAD_REVISION}): a newer release wrote it; run that release"
            )
    from alembic import command

    config = alembic_config()
    config.attributes["cipher"] = cipher
    warnings: list[tuple[str, tuple[object, ...]]] = []
    config.attributes["warnings"] = warnings
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    for message, args in warnings:  # committed: what they report is so
        logger.warning(message, *args)


def head_revisions() -> frozenset[str]:
    """The revisions this release's migrations end at."""
    return frozenset({HEAD_REVISION})


def current_revisions(connection: Connection) -> frozenset[str]:
    """The revisions the database's schema is at (none for a database never migrated)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return frozenset()
    return frozenset(row[0] for row in connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")))


def known_revisions() -> frozenset[str]:
    """Every revision of this release's migrations (``versions/NNNN_*.py``)."""
    return frozenset(path.name.split("_", 1)[0] for path in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def current_schema(engine: Engine) -> frozenset[str]:
    """:func:`current_revisions` in a read-only transaction of its own (the database's errors propagate)."""
    with engine.connect() as connection:
        connection.execution_options(totpflow_readonly=True)
        return current_revisions(connection)


def at_head(engine: Engine) -> bool:
    """Whether the database answers and its schema is at :func:`head_revisions` (the database's errors
    propagate). A read-only transaction: on SQLite it never waits for the writer."""
    with engine.connect() as connection:
        connection.execution_options(totpflow_readonly=True)
        return current_revisions(connection) == head_revisions()
