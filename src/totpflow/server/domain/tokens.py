"""Opaque session tokens: 33 bytes from ``secrets`` rendered as 44 base64url characters, no padding.

The length and alphabet match Stytch's tokens (stytch-api.md §2.3). 264 bits is well above the 128 bits that
OWASP ASVS 5.0 V7.2.3 requires for reference tokens. The server stores only a keyed hash of each token.
"""

from __future__ import annotations

import re
import secrets

TOKEN_BYTES = 33
FORMAT = re.compile(r"[A-Za-z0-9_-]{44}")


def new_session_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_well_formed(token: str) -> bool:
    return FORMAT.fullmatch(token) is not None
