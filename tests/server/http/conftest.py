"""Server fixtures for the HTTP tests (defined in ``serverkit``)."""

from __future__ import annotations

from serverkit import backend, sqlite_server

__all__ = ["backend", "sqlite_server"]
