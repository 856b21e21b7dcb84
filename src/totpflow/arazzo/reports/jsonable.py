"""What the standard library's JSON encoder cannot write, as every report writes it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any


def json_default(value: Any) -> Any:
    """Bytes (an output holding a binary message payload) as text, undecodable bytes replaced by U+FFFD (a
    message record's own payload is shown in base64: :func:`shown_payload`); anything else as its ``str``."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def shown_payload(payload: Any) -> tuple[Any, str | None]:
    """A message payload as a report shows it, and how it is encoded there: a binary payload (bytes that
    are not UTF-8 text) as base64, ``"base64"``, so that every byte can be read back; anything else as it is,
    ``None``."""
    if isinstance(payload, bytes | bytearray):
        return base64.b64encode(bytes(payload)).decode("ascii"), "base64"
    return payload, None


def write_json_text(path: str | Path, text: str) -> None:
    """JSON text (``json.dumps`` with ``ensure_ascii=False``) to ``path`` as UTF-8. A lone surrogate, which a
    response may decode to (``"\\ud800"`` in its JSON) and UTF-8 cannot hold, is written as the JSON escape
    it came as: outside strings JSON text is ASCII, and inside one the encoder has escaped every backslash,
    so each such escape reads back as the same character."""
    Path(path).write_bytes(text.encode("utf-8", "backslashreplace"))
