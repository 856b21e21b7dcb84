"""How deeply a JSON value nests. Metadata and session custom claims are refused past ``MAX_DEPTH`` levels:
far below the depth at which encoding, storing or reading them back would exhaust Python's recursion limit
(about 950 levels: a 500, or a stored user that no request could read again), and far above what an
application's metadata or claims hold."""

from __future__ import annotations

from typing import Any, Final

MAX_DEPTH: Final = 64


def deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether objects and arrays in ``value`` nest more than ``limit`` levels (``{"a": 1}`` is one level).
    Iterative: the value may nest deeper than the recursion limit."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
