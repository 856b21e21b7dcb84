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


def new_code() -> str:
    # One uniform draw below 36**12 (``randbelow`` rejects rather than reduces modulo, so no bias), written
    # in base 36: the same distribution as twelve ``secrets.choice`` calls at a twelfth of the cost.
    number = secrets.randbelow(len(ALPHABET) ** 12)
    chars = []
    for _ in range(12):
        number, digit = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[digit])
    return f"{''.join(chars[0:4])}-{''.join(chars[4:8])}-{''.join(chars[8:12])}"


def new_codes(count: int = COUNT) -> tuple[str, ...]:
    return tuple(new_code() for _ in range(count))


def is_well_formed(code: str) -> bool:
    return FORMAT.fullmatch(code) is not None
