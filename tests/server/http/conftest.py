"""Server fixtures for the HTTP tests (defined in ``serverkit``)."""

from __future__ import annotations

from serverkit import backend, backend_server, http, sqlite_server

__all__ = ["backend", "backend_server", "http", "sqlite_server"]
