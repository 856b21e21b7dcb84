"""User metadata (``trusted_metadata``, ``untrusted_metadata``): JSON objects an application attaches to a
user, with Stytch's limits — at most 20 top-level keys and 4,096 bytes serialised
(https://stytch.com/docs/api/metadata) — and its update rule: a shallow merge at the top level, where a
``null`` value deletes the key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from totpflow.server.domain.nesting import MAX_DEPTH, deeper_than
from totpflow.server.errors import MetadataTooDeep, MetadataTooLarge, MetadataTooManyKeys

MAX_KEYS: Final = 20
MAX_BYTES: Final = 4096


def check(field: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as stored, or ``MetadataTooManyKeys`` / ``MetadataTooDeep`` / ``MetadataTooLarge`` naming
    ``field``."""
    if len(value) > MAX_KEYS:
        raise MetadataTooManyKeys(field, f"more than {MAX_KEYS} top-level keys")
    if deeper_than(value):
        raise MetadataTooDeep(field, f"nested more than {MAX_DEPTH} levels deep")
    encoded = json.dumps(dict(value), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if len(encoded) > MAX_BYTES:
        raise MetadataTooLarge(field, f"larger than {MAX_BYTES} bytes")
    stored: dict[str, Any] = json.loads(encoded)
    return stored


def merge(field: str, current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with each top-level key of ``changes`` set to its value, or removed when that is
    ``None``; the result is checked against the limits."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return check(field, merged)
