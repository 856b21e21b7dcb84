"""RFC 6238 time-based one-time passwords on top of RFC 4226 HOTP.

The server issues SHA-1 / 6 digits / 30 s authenticators (Stytch's documented parameters, stytch-api.md
§6) and accepts the previous, current and next time step (RFC 6238 §5.2 network-delay window; Stytch:
"codes from the previous and next 30-second windows"). Replay protection is the caller's job: ``verify``
returns the matched time step so the store can refuse any step that is not newer than the last one used
(RFC 6238 §5.2, "MUST NOT accept the second attempt").
"""

from __future__ import annotations

import base64
import hmac
import secrets

PERIOD = 30
DIGITS = 6
SECRET_BYTES = 20  # RFC 4226 §4 R6: 160 bits recommended, the HMAC-SHA1 output length

_DIGESTS = {"SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}  # names: hmac.digest's one-shot path


def new_secret() -> str:
    """A fresh shared secret: 20 random bytes, base32 without padding (32 characters)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def decode_secret(secret: str) -> bytes:
    """Base32 (case-insensitive, padding optional) to key bytes."""
    text = secret.strip().replace(" ", "").upper()
    return base64.b32decode(text + "=" * (-len(text) % 8))


def hotp(key: bytes, counter: int, *, digits: int = DIGITS, algorithm: str = "SHA1") -> str:
    """RFC 4226 §5.3: HMAC over the 8-byte big-endian counter, dynamic truncation, modulo 10^digits."""
    mac = hmac.digest(key, counter.to_bytes(8, "big"), _DIGESTS[algorithm])
    offset = mac[-1] & 0x0F
    binary = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def time_step(unix_time: float, *, period: int = PERIOD) -> int:
    """RFC 6238 §4.2: T = floor((unix time - T0) / X) with T0 = 0."""
    return int(unix_time // period)


def code_at(
    key: bytes, unix_time: float, *, digits: int = DIGITS, algorithm: str = "SHA1", period: int = PERIOD
) -> str:
    """The TOTP value at ``unix_time`` (RFC 6238 §4.2)."""
    return hotp(key, time_step(unix_time, period=period), digits=digits, algorithm=algorithm)


def verify(key: bytes, code: str, unix_time: float, *, window: int = 1, period: int = PERIOD) -> int | None:
    """The time step within ±``window`` steps whose code equals ``code``, else ``None``.

    Every candidate is computed and compared with ``hmac.compare_digest`` without an early exit, so the
    time taken does not reveal which step (if any) matched. If two steps share a code (probability 10^-6)
    the newest wins, which is the conservative choice for replay protection.
    """
    now = time_step(unix_time, period=period)
    matched: int | None = None
    encoded = code.encode("ascii", "replace")
    for step in range(now - window, now + window + 1):
        if hmac.compare_digest(hotp(key, step).encode("ascii"), encoded):
            matched = step
    return matched
