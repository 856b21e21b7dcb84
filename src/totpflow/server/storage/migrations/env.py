"""Alembic environment used programmatically by ``totpflow.server.storage.migrate``: the caller passes an open
connection in ``config.attributes["connection"]``; no ``alembic.ini`` is read."""

from __future__ import annotations

from alembic import context

from totpflow.server.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
