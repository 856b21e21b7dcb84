"""Where a store's database is: the URL a command uses (its flag, else ``TOTPFLOW_DATABASE_URL``, else the
default SQLite file), the file a ``sqlite:///PATH`` URL names, that file opened read-only, and a file of
the store (the database, its side files, a key file) narrowed to its owner.

No SQLAlchemy here: ``config``, ``crypto`` and the operator commands read these before any store opens.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote

if TYPE_CHECKING:
    import sqlite3

HOME_ENV: Final = "TOTPFLOW_HOME"
DATABASE_URL_ENV: Final = "TOTPFLOW_DATABASE_URL"
SQLITE_PREFIX: Final = "sqlite:///"


def default_database_path() -> Path:
    """``$TOTPFLOW_HOME/totpflow.db``, else ``~/.local/share/totpflow/totpflow.db``."""
    home = os.environ.get(HOME_ENV)
    base = Path(home) if home else Path.home() / ".local" / "share" / "totpflow"
    return base / "totpflow.db"


def default_database_url() -> str:
    return sqlite_url(default_database_path())


def sqlite_url(path: Path) -> str:
    """The ``sqlite:///PATH`` URL of a file: ``%`` and ``?`` escaped, as a URL's path is read decoded and
    ends at ``?`` (a folder named ``h%41`` is not ``hA``)."""
    return SQLITE_PREFIX + str(path).replace("%", "%25").replace("?", "%3F")


def chosen_database_url(flag: str | None, environ: Mapping[str, str]) -> str:
    """The URL a command uses: ``--database-url``, else ``TOTPFLOW_DATABASE_URL``, else the default."""
    return flag or environ.get(DATABASE_URL_ENV) or default_database_url()


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (its query left off, percent-escapes decoded, as SQLAlchemy
    reads it, so every file of the store is beside the one SQLite opens); None for an in-memory SQLite
    database and for other URLs."""
    if not url.startswith(SQLITE_PREFIX):
        return None
    path = unquote(url.removeprefix(SQLITE_PREFIX).split("?", 1)[0])
    return None if path.startswith(":memory:") else Path(path)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the SQLite file at ``path`` (nothing is created or changed), closed at the
    end of the block; ``sqlite3.Error`` as the driver raises it."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
        yield db


def narrow_to_owner(path: Path) -> None:
    """Make a regular file that others may read or write owner-only (its group and other bits cleared). A
    missing file, a device, a fifo or a folder is never changed (a key file named ``/dev/null`` must not
    close ``/dev/null`` to every other user), nor is a file this process may not change."""
    with contextlib.suppress(OSError):
        status = os.stat(path)
        if stat.S_ISREG(status.st_mode) and status.st_mode & 0o077:
            os.chmod(path, status.st_mode & 0o700)
