"""Schema migrations, run programmatically on start-up (no ``alembic.ini`` needed at runtime).

On PostgreSQL the migration runs under a transaction-level advisory lock, so any number of server
processes can start at once against one database: the first migrates, the others wait and then find
nothing to do.

A migration that rewrites stored secrets (0003 re-encrypts them under new bindings) needs the master key: the
caller passes its ``Cipher``, which reaches the migration as ``config.attributes["cipher"]``, on SQLite and
PostgreSQL alike. Without one such a migration refuses (``MasterKeyError``) unless there is nothing to
rewrite.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

if TYPE_CHECKING:
    from totpflow.server.crypto import Cipher

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
ADVISORY_LOCK_KEY = 0x746F7470666C6F77 & 0x7FFFFFFFFFFFFFFF  # "totpflow"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head", *, cipher: Cipher | None = None) -> None:
    """Bring the schema to ``revision``; ``cipher`` (under the master key) for migrations that rewrite
    stored secrets."""
    config = alembic_config()
    config.attributes["cipher"] = cipher
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


@functools.cache
def head_revisions() -> frozenset[str]:
    """The revisions this release's migrations end at."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def at_head(engine: Engine) -> bool:
    """Whether the database answers and its schema is at :func:`head_revisions` (the database's errors
    propagate). A read-only transaction: on SQLite it never waits for the writer."""
    with engine.connect() as connection:
        connection.execution_options(totpflow_readonly=True)
        current = MigrationContext.configure(connection).get_current_heads()
    return frozenset(current) == head_revisions()
