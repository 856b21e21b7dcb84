"""A consistent copy of a SQLite store while servers use it (``totpflow backup``).

Copying the database file of a live store is not a backup: in WAL mode the newest commits are in the
``-wal`` file, and a copy taken during a checkpoint can hold half-written pages. SQLite's online backup
copies every page of one read transaction's snapshot (a reader in WAL mode blocks no writer), so the copy is
the database as of one moment, with every commit before it and none after. The copy is written to a new
file in the destination's folder, owner-only (``0600``, as the store's own files), checked with SQLite's
``integrity_check``, synced, and then linked to its name, which must be free: a failure leaves no file at the
destination and nothing half-written under its name, and an existing file is never overwritten.

The master key is not in the copy, as it is not in the database: secrets in the copy open only with it.
PostgreSQL has its own tools for this (``pg_dump``, base backups).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from totpflow.server.errors import BackupFailed

BUSY_TIMEOUT_MS = 30_000  # as the store's own connections wait for a checkpoint's lock


@dataclass(frozen=True, slots=True)
class Backup:
    """What was copied: the copy's path and size, the schema revision, and how many projects and users."""

    path: Path
    size: int
    schema: str
    projects: int
    users: int


def back_up(database: Path, destination: Path) -> Backup:
    """Copy the SQLite store at ``database`` to the new file ``destination``; :class:`BackupFailed` when the
    database is missing or no totpflow store, the destination is taken or its folder missing, or the copy
    fails (``bad_input`` false: the disk, not the command)."""
    if not database.is_file() or database.stat().st_size == 0:
        raise BackupFailed(f"no database at {database}")
    folder = destination.parent
    if not folder.is_dir():
        raise BackupFailed(f"no folder {folder} for the backup")
    if _same_store(database, destination):
        raise BackupFailed(f"{destination} is a file of the database itself")
    if destination.is_dir():
        raise BackupFailed(f"{destination} is a folder; name the new file to write")
    if destination.exists() or destination.is_symlink():
        raise BackupFailed(f"{destination} exists; a backup never replaces a file")
    try:
        source = sqlite3.connect(f"{database.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise BackupFailed(f"cannot open {database}: {exc}") from None
    with contextlib.closing(source):
        source.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        schema = _schema(source, database)
        descriptor, name = tempfile.mkstemp(dir=folder, prefix=f".{destination.name}.", suffix=".partial")
        os.close(descriptor)
        partial = Path(name)
        try:
            copied = _copy(source, partial)
            _sync(partial)
            try:
                os.link(partial, destination)  # never replaces a file that appeared meanwhile
            except FileExistsError:
                raise BackupFailed(f"{destination} exists; a backup never replaces a file") from None
            except OSError as exc:
                raise BackupFailed(f"cannot write {destination}: {exc.strerror}", bad_input=False) from None
        finally:
            with contextlib.suppress(OSError):
                partial.unlink()
    _sync_folder(folder)
    return Backup(destination, destination.stat().st_size, schema, *copied)


def _same_store(database: Path, destination: Path) -> bool:
    resolved = destination.parent.resolve() / destination.name
    own = database.resolve()
    return resolved in {own, *(own.with_name(own.name + side) for side in ("-wal", "-shm", "-journal"))}


def _schema(source: sqlite3.Connection, database: Path) -> str:
    """The store's schema revision; :class:`BackupFailed` for a file that is no totpflow store."""
    try:
        row = source.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        row = None
    if row is None:
        raise BackupFailed(f"{database} is not a totpflow database")
    return str(row[0])


def _copy(source: sqlite3.Connection, partial: Path) -> tuple[int, int]:
    """Every page of one snapshot of ``source`` into ``partial``, checked; the copy's projects and users."""
    try:
        with contextlib.closing(sqlite3.connect(partial)) as copy:
            source.backup(copy)  # one step: one read transaction, one snapshot
            verdict = copy.execute("PRAGMA integrity_check").fetchone()
            if verdict is None or verdict[0] != "ok":
                raise BackupFailed("the copy failed SQLite's integrity check", bad_input=False)
            projects = copy.execute("SELECT count(*) FROM projects").fetchone()[0]
            users = copy.execute("SELECT count(*) FROM users").fetchone()[0]
    except sqlite3.Error as exc:
        raise BackupFailed(f"the copy failed: {exc}", bad_input=False) from None
    return int(projects), int(users)


def _sync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _sync_folder(folder: Path) -> None:
    """The new name on disk too (a folder's fsync; not every platform allows it)."""
    with contextlib.suppress(OSError):
        _sync(folder)
