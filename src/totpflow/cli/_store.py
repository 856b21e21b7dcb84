"""Opening the server's store from a command other than ``serve`` (``project``, ``keys``, ``users``,
``sessions``), choosing the project a command acts on, and printing what the operator commands found: a
table for people (rich), ``--json`` for scripts. Nothing printed here is a secret, code or token."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from totpflow.server import services


class CommandFailed(Exception):
    """A message for the person at the command line (exit code 2)."""


MAX_SHOWN_ID = 80


def quoted(value: str) -> str:
    """An id the operator typed, quoted for a message: at most ``MAX_SHOWN_ID`` characters of it (a pasted
    page of text is not printed back whole)."""
    if len(value) <= MAX_SHOWN_ID:
        return repr(value)
    return f"{value[:MAX_SHOWN_ID]!r}… ({len(value)} characters)"


def open_deps(
    database_url: str | None,
    master_key_file: str | None = None,
    *,
    create: bool = False,
    key_settings: bool = False,
) -> tuple[services.Deps, str]:
    """The services' dependencies over the configured store, and the store's URL as it may be shown. The
    master key comes from ``master_key_file`` when given (``--master-key-file``), else as for ``serve``.
    A SQLite database that does not exist (or an empty file) is made only when ``create`` (``project
    create``): any other command given a mistyped path says so, rather than leave a new empty store and key
    file behind (a folder is refused by ``Settings.for_store``, before a key file is made beside it). A master
    key that does not open what the store holds is refused for every command, those that only read included.
    Only the store's settings are read, and with ``key_settings`` (``keys rotate``) the signing-key settings:
    a malformed setting of the server the command does not use (a rate limit, the log format) is ``serve``'s
    to refuse, not a reason to keep an operator from the store."""
    from totpflow.server.config import Settings, display_url
    from totpflow.server.dbfile import chosen_database_url, sqlite_path
    from totpflow.server.errors import ConfigError
    from totpflow.server.services.master_key import check_master_key

    path = sqlite_path(chosen_database_url(database_url, os.environ))
    if not create and path is not None and (not path.exists() or path.stat().st_size == 0):
        # an empty file is no database either: SQLite would take it as a new one and the schema would go in
        raise CommandFailed(f"no database at {path} (totpflow serve, enroll or project create makes one)")
    from totpflow.server.wiring import build_deps

    try:
        settings = Settings.for_store(
            os.environ, database_url=database_url, master_key_file=master_key_file, key_settings=key_settings
        )
    except ConfigError as exc:
        raise CommandFailed(str(exc)) from None
    shown = display_url(settings.database_url)
    try:
        deps = build_deps(settings, rate_limits=False)
    except ConfigError as exc:  # StoreUnavailable among them: what failed to connect, where and why
        raise CommandFailed(str(exc)) from None
    try:
        check_master_key(deps)
    except ConfigError as exc:  # MasterKeyError
        deps.store.dispose()
        raise CommandFailed(str(exc)) from None
    except BaseException:
        deps.store.dispose()
        raise
    return deps, shown


@contextmanager
def opened(
    database_url: str | None, master_key_file: str | None = None
) -> Iterator[tuple[services.Deps, str]]:
    """``open_deps``, disposed of at the end of the block."""
    deps, shown = open_deps(database_url, master_key_file)
    try:
        yield deps, shown
    finally:
        deps.store.dispose()


def choose_project(deps: services.Deps, shown: str, named: str | None) -> str:
    """The project a command acts on: ``named`` (``--project-id``), else ``$TOTPFLOW_PROJECT_ID``, else the
    store's only project. Several projects and none named: the message lists them."""
    from totpflow.server.config import PROJECT_ID_ENV
    from totpflow.server.services import admin

    project_id = named or os.environ.get(PROJECT_ID_ENV)
    found = admin.list_projects(deps)
    if project_id:
        if not any(p.project_id == project_id for p in found):
            raise CommandFailed(f"no project {quoted(project_id)} in {shown}")
        return project_id
    if not found:
        raise CommandFailed(
            f"the database {shown} has no project yet (`totpflow serve` or `totpflow enroll` creates one)"
        )
    if len(found) > 1:
        listed = "".join(f"\n  {p.project_id}  {printable(p.name)}" for p in found)
        raise CommandFailed(f"the database has {len(found)} projects; name one with --project-id:{listed}")
    return found[0].project_id


PROJECT_HELP = "the project (default: $TOTPFLOW_PROJECT_ID, else the database's only project)"
MASTER_KEY_FILE_HELP = (
    "file holding the master key (default: $TOTPFLOW_MASTER_KEY, $TOTPFLOW_MASTER_KEY_FILE, else on SQLite a "
    ".key file beside the database)"
)


def add_store_arguments(parser: argparse.ArgumentParser, *, project: str | None, output: bool = True) -> None:
    """The options every store command takes: ``--database-url``, ``--master-key-file``, ``--json``, and
    ``--project-id`` with the help text ``project``."""
    if project is not None:
        parser.add_argument("--project-id", metavar="ID", help=project)
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="sqlite:///PATH or postgresql://… (default: $TOTPFLOW_DATABASE_URL)",
    )
    parser.add_argument("--master-key-file", metavar="PATH", help=MASTER_KEY_FILE_HELP)
    if output:
        parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run_command(command: str, body: Callable[[], int]) -> int:
    """Run a store command: ``CommandFailed`` and the services' not-found errors are bad input (exit 2),
    a database that fails on the way is exit 1; never a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from totpflow.server import errors

    try:
        return body()
    except CommandFailed as exc:
        sys.stderr.write(f"totpflow {command}: {exc}\n")
        return 2
    except errors.ServerError as exc:
        sys.stderr.write(f"totpflow {command}: {exc.__class__.__name__}: {exc}\n")
        return 2
    except SQLAlchemyError as exc:  # a driver's message can quote the URL; name the class only
        sys.stderr.write(f"totpflow {command}: the database failed: {type(exc).__name__}\n")
        return 1


def timestamp(value: datetime | None) -> str | None:
    """``2026-12-06T05:50:12Z`` (UTC, whole seconds) or None."""
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value) + "\n")


MAX_CELL_WIDTH = 64  # a longer name or email is cut with "…"; the id column never is


def printable(value: Any) -> str:
    """``value`` as text a terminal shows as it is: control and format characters (an escape sequence, a
    newline that would start a fake row) are written as escapes (``\\x1b``, ``\\n``)."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table for people: the first column (the ids) is never wrapped or cut, whatever the other cells hold;
    other cells longer than ``MAX_CELL_WIDTH`` are cut. Cells are text, never markup, and escaped as
    ``printable`` writes them."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    cells = [[printable(cell) for cell in row] for row in rows]
    table = Table(title=title, title_justify="left", box=None, header_style="bold", pad_edge=False)
    for index, name in enumerate(columns):
        if index == 0:
            widest = max((len(row[0]) for row in cells), default=0)
            table.add_column(name, no_wrap=True, overflow="ignore", min_width=max(widest, len(name)))
        else:
            table.add_column(name, no_wrap=True, overflow="ellipsis", max_width=MAX_CELL_WIDTH)
    for row in cells:
        table.add_row(*(Text(cell) for cell in row))
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 240)
    console.print(table)


def print_fields(pairs: Sequence[tuple[str, Any]]) -> None:
    """``name  value`` lines for one record, each value as ``printable`` writes it."""
    width = max(len(name) for name, _ in pairs)
    for name, value in pairs:
        sys.stdout.write(f"{name.ljust(width)}  {printable(value)}\n")
