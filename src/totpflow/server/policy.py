"""Tunable security policy of the server, with Stytch's documented defaults (stytch-api.md §9, §3.3, §6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NAMED_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``limit`` requests per fixed window of ``period_seconds``.

    Windows are aligned to multiples of the period since the Unix epoch ("intervals are not rolling, but are
    top of the hour", stytch-api.md §9), so every process computes the same window for the same instant.
    """

    limit: int
    period_seconds: int

    def window_start(self, epoch_seconds: float) -> int:
        """The first second of the window holding ``epoch_seconds``."""
        return int(epoch_seconds) // self.period_seconds * self.period_seconds

    def __str__(self) -> str:
        return f"{self.limit}/{self.period_seconds}s"

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """``"N/PERIOD"`` → a limit; ``"off"`` (or ``"0"``) → None. ``ValueError`` names the expected shape.

        PERIOD is a number of seconds with an optional unit (``30``, ``60s``, ``5m``, ``1h``, ``1d``) or one
        of ``second``, ``minute``, ``hour``, ``day``: ``"30/60s"``, ``"1000/minute"``.
        """
        value = text.strip().lower()
        if value in ("off", "0", "none"):
            return None
        text_count, slash, period = value.partition("/")
        count = whole_number(text_count)
        if not slash or count is None or count < 1:
            raise ValueError("expected N/PERIOD such as 30/60s, 100/minute or 1000/1h, or off")
        if period in _NAMED_PERIODS:
            seconds = _NAMED_PERIODS[period]
        else:
            unit = period[-1:] if period[-1:] in _UNITS else "s"
            number = whole_number(period[:-1] if period[-1:] in _UNITS else period)
            if number is None or number < 1:
                raise ValueError("expected N/PERIOD such as 30/60s, 100/minute or 1000/1h, or off")
            seconds = number * _UNITS[unit]
        if seconds > 7 * 86400:
            raise ValueError("the period must be at most 7 days")
        return cls(count, seconds)


@dataclass(frozen=True, slots=True)
class Policy:
    """User locks, rate limits, TOTP window, session and JWT lifetimes.

    * ``lock_threshold`` consecutive failed TOTP/recovery attempts lock the user for ``lock_ttl``
      (``totpflow.server.lockout``: Stytch's default 10 attempts, 1 hour).
    * ``rate_limit_user`` / ``rate_limit_project`` cap the requests to ``/v1/totps/authenticate`` and
      ``/v1/totps/recover`` per ``user_id`` and per project, successful or not (stytch-api.md §9: 429
      ``too_many_requests``). Default: 60 a minute per user, which no human and no enrolment flow reaches;
      no project-wide cap (a deployment sets one that fits its traffic). None turns a limit off.
    * ``totp_window`` steps either side of the current one are accepted (RFC 6238 §5.2; Stytch: ±1).
    * Session JWTs live ``jwt_lifetime_seconds`` (Stytch: five minutes regardless of the session's duration).
    * Key rollover (``services.keys``): a new signing key is published in the JWKS ``key_publication_delay``
      before it signs (default an hour: JWKS caches refresh within that, and clients that refetch an
      unknown ``kid`` at most every few minutes never meet one); a retired key stays published and verifying
      for ``key_retention`` (default 30 days, as Stytch keeps its keys for a month).
    """

    lock_threshold: int = 10
    lock_ttl: timedelta = timedelta(hours=1)
    rate_limit_user: RateLimit | None = RateLimit(60, 60)
    rate_limit_project: RateLimit | None = None
    totp_window: int = 1
    jwt_lifetime_seconds: int = 300
    rsa_key_size: int = 2048  # bits of new signing keys: 2048, 3072 or 4096 (crypto.RSA_KEY_SIZES)
    totp_expiration_minutes_default: int = 1440
    totp_expiration_minutes_range: tuple[int, int] = (5, 1440)
    session_duration_minutes_range: tuple[int, int] = (5, 527040)
    key_publication_delay: timedelta = timedelta(hours=1)
    key_retention: timedelta = timedelta(days=30)
    rotate_keys_every: timedelta | None = None  # serve --rotate-keys-every: start a rollover this often
    search_limit_default: int = 100
    search_limit_max: int = 1000

    def issuer(self, project_id: str) -> str:
        """The ``iss`` of session JWTs; the Stytch SDK accepts ``stytch.com/{project_id}`` for any base
        URL."""
        return f"stytch.com/{project_id}"


MAX_DURATION = timedelta(days=3650)  # ten years: every date it is added to stays one the clock can hold


def whole_number(text: str, max_digits: int = 12) -> int | None:
    """``text`` as a whole number when it is 1 to ``max_digits`` ASCII digits; None otherwise (``str.isdigit``
    also accepts ``²`` and other digits ``int`` refuses, and ``int`` refuses over 4,300 digits)."""
    if not (0 < len(text) <= max_digits and text.isascii() and text.isdigit()):
        return None
    return int(text)


def parse_duration(text: str) -> timedelta:
    """``"90"`` or ``"90s"``, ``"5m"``, ``"1h"``, ``"30d"`` → a duration of at most ``MAX_DURATION``;
    ``ValueError`` names the shape."""
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _UNITS else "s"
    number = value[:-1] if value[-1:] in _UNITS else value
    if not (number.isascii() and number.isdigit()):
        raise ValueError("expected a duration such as 90s, 30m, 1h or 30d")
    digits = number.lstrip("0") or "0"
    seconds = int(digits) * _UNITS[unit] if len(digits) <= 12 else None
    if seconds is None or seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"a duration of at most {MAX_DURATION.days}d")
    return timedelta(seconds=seconds)
