"""What an API answered, in one line, for the reports of a failed step.

    answer(recorded_response) -> str     "<status> <error_type> — <error_message>", or "<status> <excerpt>"

Stytch's error body (``status_code``, ``request_id``, ``error_type``, ``error_message``, ``error_url``) and an
RFC 9457 problem (``title``, ``detail``) give their type and message; any other body a short excerpt on one
line. The body is the recorded one, masked when it was recorded.
"""

from __future__ import annotations

import json
from typing import Any

from totpflow.arazzo.results import RecordedResponse


def answer(response: RecordedResponse) -> str:
    """The status, then ``error_type`` — ``error_message`` when the body has them (or RFC 9457's ``title``
    — ``detail``), else a short excerpt of the body."""
    body = response.body
    parsed: Any = None
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    if isinstance(parsed, dict):
        for kind_key, message_key in _ERROR_FIELDS:
            kind, message = parsed.get(kind_key), parsed.get(message_key)
            if isinstance(kind, str | int) or isinstance(message, str):
                text = f"{response.status_code} {kind if kind is not None else ''}".rstrip()
                return f"{text} — {_excerpt(str(message))}" if message is not None else text
    if not body:
        return f"{response.status_code} (empty body)"
    return f"{response.status_code} {_excerpt(body)}"


_ERROR_FIELDS = (("error_type", "error_message"), ("title", "detail"))
_EXCERPT_CHARS = 200


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXCERPT_CHARS else flat[: _EXCERPT_CHARS - 1] + "…"
