"""Opening the server's store from a command other than ``serve`` (``project``, ``keys``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from totpflow.server import services


class CommandFailed(Exception):
    """A message for the person at the command line (exit code 2)."""


def open_deps(database_url: str | None) -> tuple[services.Deps, str]:
    """The services' dependencies over the configured store, and the store's URL as it may be shown."""
    from totpflow.server.app import build_deps
    from totpflow.server.config import Settings, display_url
    from totpflow.server.errors import ConfigError

    try:
        settings = Settings.load(os.environ, database_url=database_url)
    except ConfigError as exc:
        raise CommandFailed(str(exc)) from None
    shown = display_url(settings.database_url)
    try:
        return build_deps(settings), shown
    except ConfigError as exc:  # StoreUnavailable among them: what failed to connect, where and why
        raise CommandFailed(str(exc)) from None
