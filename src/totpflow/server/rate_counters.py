"""Where the rate limits count (``totpflow.server.services.rate_limits``): the store by default, Redis when
``TOTPFLOW_RATE_LIMIT_REDIS`` names one.

Both count fixed windows (stytch-api.md §9) atomically across processes:

* :class:`StoreCounters`: one ``INSERT … ON CONFLICT DO UPDATE SET hits = hits + 1 RETURNING hits`` per
  counter, all of a request's counters in one transaction that does not wait for its WAL flush on
  PostgreSQL (counters need atomicity, not durability); ended windows are deleted by one indexed range
  delete at most once a minute per process. Needs nothing but the database.
* :class:`RedisCounters`: ``INCR`` and ``EXPIRE`` (to the window's end) per counter, all in one
  ``MULTI``/``EXEC`` round trip; Redis drops ended windows itself. Needs the optional ``redis`` package
  (``pip install 'totpflow[redis]'``). If Redis is unreachable the request fails (500) rather than going
  unlimited.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Protocol

from totpflow.server.storage import Store

PRUNE_EVERY_SECONDS: Final = 60
REDIS_KEY_PREFIX: Final = "totpflow:rate:"

Hit = tuple[str, str, int, int]  # project_id, bucket, window start, window end (Unix seconds)


class RateCounters(Protocol):
    def hit(self, hits: Sequence[Hit], now_epoch: float) -> list[int]:
        """Count one request in each counter; the new counts, in order."""
        ...

    def close(self) -> None: ...


class StoreCounters:
    """Counters in the ``rate_counters`` table of the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def hit(self, hits: Sequence[Hit], now_epoch: float) -> list[int]:
        with self.store.transaction() as tx:
            tx.skip_commit_flush()
            counts = [tx.hit_counter(*h) for h in hits]
            if now_epoch >= self.store.next_counter_prune:
                self.store.next_counter_prune = now_epoch + PRUNE_EVERY_SECONDS
                tx.prune_expired_counters(int(now_epoch))
        return counts

    def close(self) -> None:
        pass


class RedisCounters:
    """Counters in Redis under ``totpflow:rate:{project_id}:{bucket}:{window start}``."""

    def __init__(self, url: str) -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)

    def ping(self) -> None:
        self.client.ping()

    def hit(self, hits: Sequence[Hit], now_epoch: float) -> list[int]:
        pipe = self.client.pipeline(transaction=True)
        for project_id, bucket, window, end in hits:
            key = f"{REDIS_KEY_PREFIX}{project_id}:{bucket}:{window}"
            pipe.incr(key)
            # Relative to the server's clock, so the key lives until its window ends whatever Redis's clock
            # says; a second more so it never vanishes before the last hit of its window is judged.
            pipe.expire(key, max(1, int(end - now_epoch) + 1))
        results = pipe.execute()
        return [int(count) for count in results[0::2]]

    def close(self) -> None:
        self.client.close()
