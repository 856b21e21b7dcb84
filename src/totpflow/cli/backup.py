"""``totpflow backup DEST``: a consistent copy of the server's SQLite store, taken while servers run
(``totpflow.server.backup``). It prints what it copied, never a secret; the master key is not in the copy.
On PostgreSQL, the database's own tools make backups (exit 2, saying so)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

RESTORE_HINT = (
    "to restore: stop every server, move the database's -wal and -shm files away, put the copy in the "
    "database's place, and start with the same master key"
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backup", help="copy the server's SQLite database, consistently, while servers run"
    )
    parser.add_argument("destination", metavar="DEST", help="the new file to write (never replaced)")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="sqlite:///PATH (default: $TOTPFLOW_DATABASE_URL, else the default store)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(handler=back_up)


def back_up(args: argparse.Namespace) -> int:
    from totpflow.cli._store import print_json
    from totpflow.server import backup
    from totpflow.server.dbfile import chosen_database_url, sqlite_path
    from totpflow.server.errors import BackupFailed

    url = chosen_database_url(args.database_url, os.environ)
    database = sqlite_path(url)
    if database is None:
        if url.startswith("sqlite"):
            sys.stderr.write("totpflow backup: an in-memory database has nothing to copy\n")
        else:
            sys.stderr.write(
                "totpflow backup: copies a SQLite store; back up PostgreSQL with its own tools "
                "(pg_dump, or a base backup), and keep the master key apart from them\n"
            )
        return 2
    try:
        made = backup.back_up(database, Path(args.destination))
    except BackupFailed as exc:
        sys.stderr.write(f"totpflow backup: {exc}\n")
        return 2 if exc.bad_input else 1
    if args.json:
        print_json(
            {
                "database": str(database),
                "backup": str(made.path),
                "bytes": made.size,
                "schema": made.schema,
                "projects": made.projects,
                "users": made.users,
            }
        )
    else:
        sys.stdout.write(
            f"backed up {database} to {made.path}: {made.size:,} bytes, schema {made.schema}, "
            f"{made.projects} project(s), {made.users} user(s)\n"
            "the master key is not in the backup: keep it too, but not beside the backups\n"
            f"{RESTORE_HINT}\n"
        )
    return 0
