"""Tunable security policy of the server, with Stytch's documented defaults (stytch-api.md §9, §3.3, §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True, slots=True)
class Policy:
    """User locks, TOTP window, session and JWT lifetimes.

    * ``lock_threshold`` consecutive failed TOTP/recovery attempts lock the user for ``lock_ttl`` (Stytch User
      Locks: default 10 attempts, 1 hour; RFC 4226 §7.3 asks for such a throttle "across login sessions").
    * ``totp_window`` steps either side of the current one are accepted (RFC 6238 §5.2; Stytch: ±1).
    * Session JWTs live ``jwt_lifetime_seconds`` (Stytch: five minutes regardless of the session's duration).
    """

    lock_threshold: int = 10
    lock_ttl: timedelta = timedelta(hours=1)
    totp_window: int = 1
    jwt_lifetime_seconds: int = 300
    totp_expiration_minutes_default: int = 1440
    totp_expiration_minutes_range: tuple[int, int] = (5, 1440)
    session_duration_minutes_range: tuple[int, int] = (5, 527040)
    search_limit_default: int = 100
    search_limit_max: int = 1000

    def issuer(self, project_id: str) -> str:
        """The ``iss`` of session JWTs; the Stytch SDK accepts ``stytch.com/{project_id}`` for any base
        URL."""
        return f"stytch.com/{project_id}"
