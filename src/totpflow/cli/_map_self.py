"""``--map-self URL=DIR`` of ``run`` and ``validate``: read documents under a ``$self`` URL prefix from a
local folder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def add_option(add: Callable[..., Any]) -> None:
    """Add the option with ``add`` (a parser's or a group's ``add_argument``)."""
    add(
        "--map-self",
        action="append",
        default=[],
        metavar="URL=DIR",
        help="read documents under this $self URL prefix from a local folder "
        "(repeatable; also TOTPFLOW_MAP_SELF)",
    )


def apply(values: list[str]) -> str | None:
    """Register the mappings given (and TOTPFLOW_MAP_SELF's); what is wrong with one, for the command's
    message, or None."""
    import os

    from totpflow.arazzo.document.identity import MAP_ENV, add_mapping, parse_mapping

    inherited = os.environ.get(MAP_ENV)
    if inherited:
        try:
            parse_mapping(inherited)
        except ValueError as exc:
            return f"{MAP_ENV}: {exc}"
    try:
        add_mapping(values)
    except ValueError as exc:
        return f"--map-self {exc}"
    return None
