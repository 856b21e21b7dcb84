"""A process's service dependencies from its settings: the store (migrated), the rate counters and the
cipher. The ASGI app builds them in each worker; the operator's commands and ``enroll`` build them without
loading the web stack."""

from __future__ import annotations

from totpflow.server import errors, services
from totpflow.server.config import RATE_LIMIT_REDIS_ENV, Settings
from totpflow.server.crypto import Cipher, utc_now
from totpflow.server.errors import ConfigError
from totpflow.server.rate_limits import RateCounters, RedisCounters
from totpflow.server.storage import open_store
from totpflow.server.storage.unreachable import describe


def rate_counters(settings: Settings) -> RateCounters | None:
    """Redis counters when configured (checked with a PING now, so a wrong URL fails at start); else None,
    meaning the store's."""
    if settings.rate_limit_redis_url is None:
        return None
    try:
        counters = RedisCounters(settings.rate_limit_redis_url)
        counters.ping()
    except Exception as exc:  # ImportError, or the client's errors (whose messages may quote the URL)
        raise ConfigError(
            f"cannot use the rate-limit Redis ({RATE_LIMIT_REDIS_ENV}): {type(exc).__name__}"
        ) from None
    return counters


def build_deps(settings: Settings, *, rate_limits: bool = True) -> services.Deps:
    """Open the store (migrating it), the rate counters and derive the keys, for one process.
    ``StoreUnavailable`` says what failed to connect, where and why when the store cannot be opened.
    ``rate_limits=False`` (the operator's store commands, which make no rate-limited call): the rate-limit
    Redis is not connected to, so an outage of it does not keep an operator from unlocking a user."""
    counters = rate_counters(settings) if rate_limits else None
    cipher = Cipher(settings.master_key)
    try:
        store = open_store(settings.database_url, cipher=cipher)
    except ConfigError:
        raise
    except Exception as exc:  # the driver's own message may quote the connection string
        if counters is not None:
            counters.close()
        raise errors.StoreUnavailable(describe(settings.database_url, exc)) from None
    return services.Deps(
        store=store,
        clock=utc_now,
        cipher=cipher,
        policy=settings.policy,
        counters=counters,
    )
