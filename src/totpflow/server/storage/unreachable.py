"""What to tell an operator when the store cannot be opened: what failed to connect, where and why.

The location is rebuilt from the URL's parts (host, port, database, user), never the password. The reason,
for PostgreSQL, comes first from a plain TCP connection to the same host and port (refused, unknown host, no
answer), which says more than the driver's exception class; when that connection succeeds the server itself
refused us (authentication, a missing database …) and the driver's first line says so, with the password
masked should it appear. SQLite's reason is the driver's message (a path problem, a locked or corrupt file).
"""

from __future__ import annotations

import socket
from typing import Final

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PROBE_TIMEOUT_SECONDS: Final = 3.0
DEFAULT_PORT: Final = 5432


def describe(url: str, exc: BaseException) -> str:
    """One line: ``cannot connect to PostgreSQL at HOST:PORT/DB as USER: REASON`` or ``cannot open the
    SQLite database PATH: REASON``."""
    try:
        parts = make_url(url)
    except ArgumentError:
        return f"cannot open the database: {type(exc).__name__}"
    passwords = _passwords(url, parts.password if isinstance(parts.password, str) else None)
    detail = _driver_reason(exc, passwords)
    if parts.get_backend_name() == "sqlite":
        return f"cannot open the SQLite database {parts.database or ':memory:'}: {detail}"
    # A password with an unescaped "@" ends, for the URL parser, at its first "@": the rest would pass for
    # the host. The host is what follows the last "@", as for display_url.
    host = (parts.host or "localhost").rpartition("@")[2] or "localhost"
    port = parts.port or DEFAULT_PORT
    where = f"{host}:{port}/{parts.database or ''}" + (f" as {parts.username}" if parts.username else "")
    reason = None if host.startswith("/") else _probe(host, port)
    return f"cannot connect to PostgreSQL at {where}: {reason or detail}"


def _probe(host: str, port: int) -> str | None:
    """Why a TCP connection to host:port fails, or None when it succeeds."""
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_SECONDS):
            return None
    except ConnectionRefusedError:
        return "connection refused (is PostgreSQL running and listening there?)"
    except socket.gaierror:
        return f"unknown host {host!r}"
    except TimeoutError:
        return f"no answer within {PROBE_TIMEOUT_SECONDS:g} s"
    except OSError as error:
        return error.strerror or type(error).__name__


def _passwords(url: str, parsed: str | None) -> list[str]:
    """Every text that may be the password: as the URL parser read it, and as written up to the last "@"
    (with each of its "@"-separated pieces), longest first."""
    found = {parsed} if parsed else set()
    userinfo, at, _rest = url.partition("://")[2].partition("/")[0].rpartition("@")
    written = userinfo.partition(":")[2] if at else ""
    if written:
        found.add(written)
        found.update(piece for piece in written.split("@") if piece)
    return sorted(found, key=len, reverse=True)


def _driver_reason(exc: BaseException, passwords: list[str]) -> str:
    """The driver's first message line (SQLAlchemy wraps it as ``orig``), the password masked; only for an
    ``OperationalError`` (a failed connection): other errors, such as a malformed connection string, can quote
    the whole connection string, so only their class is named."""
    original = getattr(exc, "orig", None) or exc
    if not any(cls.__name__ == "OperationalError" for cls in type(original).__mro__):
        return type(original).__name__
    lines = [line.strip() for line in str(original).splitlines() if line.strip()]
    if not lines:
        return type(original).__name__
    text = " ".join(lines[0].split())
    for password in passwords:
        text = text.replace(password, "***")
    return text
