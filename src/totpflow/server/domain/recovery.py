"""TOTP recovery codes: 10 single-use look-up secrets ``xxxx-xxxx-xxxx`` of ``[a-z0-9]`` (stytch-api.md §6).

Each code carries 12·log2(36) ≈ 62 bits from ``secrets`` (NIST SP 800-63B §5.1.2.1 asks for ≥ 20 bits).
Because that is below 112 bits, the store never keeps a plain hash: lookup goes through an HMAC keyed by
a subkey of the master key (see ``crypto.Cipher.keyed_hash``), so a stolen database alone does not allow
an offline search.
"""

from __future__ import annotations

import re
import secrets

COUNT = 10
ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
FORMAT = re.compile(r"[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}")


# Random bytes become characters by rejection: a byte below ``_KEPT`` (7 × 36) names ``ALPHABET[byte % 36]``,
# so each character is uniform over the 36, and the bytes from ``_KEPT`` up are dropped, not reduced (reducing
# them would favour the first four characters). One read of the system's generator serves all the codes.
_KEPT = 7 * len(ALPHABET)
_TO_CHARACTER = bytes(ord(ALPHABET[byte % len(ALPHABET)]) if byte < _KEPT else 0 for byte in range(256))
_DROPPED = bytes(range(_KEPT, 256))


def new_codes(count: int = COUNT) -> tuple[str, ...]:
    """``count`` codes, each of 12 independent uniform characters of ``ALPHABET``."""
    needed = 12 * count
    characters = b""
    while len(characters) < needed:  # 4 bytes in 256 are dropped: one read almost always suffices
        characters += secrets.token_bytes(needed + 8).translate(_TO_CHARACTER, _DROPPED)
    text = characters[:needed].decode("ascii")
    return tuple(
        f"{text[i : i + 4]}-{text[i + 4 : i + 8]}-{text[i + 8 : i + 12]}" for i in range(0, needed, 12)
    )


def is_well_formed(code: str) -> bool:
    return FORMAT.fullmatch(code) is not None
