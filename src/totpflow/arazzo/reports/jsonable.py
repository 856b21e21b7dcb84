"""What the standard library's JSON encoder cannot write, as every report writes it."""

from __future__ import annotations

from typing import Any


def json_default(value: Any) -> Any:
    """Bytes (a binary message payload, an output holding one) as text, undecodable bytes replaced by
    U+FFFD as a message record's payload is; anything else as its ``str``."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)
