"""Rate limits on ``/v1/totps/authenticate`` and ``/v1/totps/recover``, per user and per project
(stytch-api.md §9: 429 ``too_many_requests``), beyond the per-user failure lock (``totpflow.server.lockout``).

The rule, in order:

1. Every request, successful or not, counts one hit in a fixed window ("intervals are not rolling", §9) of
   each limit the policy sets (``Policy.rate_limit_user``, ``Policy.rate_limit_project``; the window
   arithmetic is ``policy.RateLimit``). A request whose hit takes a counter past its limit is refused.
2. The user bucket is the user the request names, resolved: a user addressed by its ``user_id`` and by its
   ``external_id`` has one budget (:func:`user_bucket_of`). A value that names no user counts under the
   value itself, so probing for users is limited too; values that cannot be an id (longer than 128
   characters, not printable ASCII) are bucketed by their SHA-256 (:func:`user_bucket`) and never reach a
   query.
3. The hits are counted, and committed, before the attempt is judged, so a failed or rolled-back attempt
   still counts. They count atomically across processes and hosts, in one of two places
   (:class:`RateCounters`):

   * :class:`StoreCounters` (the default): one ``INSERT … ON CONFLICT DO UPDATE SET hits = hits + 1
     RETURNING hits`` per counter in the ``rate_counters`` table, all of a request's counters in one
     transaction that does not wait for its WAL flush on PostgreSQL (counters need atomicity, not
     durability: a crash may forget the last hits, never corrupt anything). Ended windows are deleted by
     whichever process first finds, at most once a minute, that it is its turn: one indexed range delete.
   * :class:`RedisCounters` (``TOTPFLOW_RATE_LIMIT_REDIS``): ``INCR`` and ``EXPIRE`` (to the window's end)
     per counter, all in one ``MULTI``/``EXEC`` round trip; Redis drops ended windows itself. Needs the
     optional ``redis`` package (``pip install 'totpflow[redis]'``). If Redis is unreachable the request
     fails (500) rather than going unlimited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from totpflow.server import errors
from totpflow.server.domain import ids
from totpflow.server.storage.records import Hit, UserHit

if TYPE_CHECKING:
    from totpflow.server.domain.models import Project
    from totpflow.server.policy import RateLimit
    from totpflow.server.services.deps import Deps
    from totpflow.server.storage.protocol import Storage

PROJECT_BUCKET: Final = "project"
REDIS_KEY_PREFIX: Final = "totpflow:rate:"
_MAX_RAW_ID: Final = 128

# --- rule 1: count and judge ------------------------------------------------------------------------------


def check(deps: Deps, project: Project, user_ref: str) -> None:
    """Count this request against the user's and the project's limits; ``RateLimited`` past either."""
    user_limit, project_limit = deps.policy.rate_limit_user, deps.policy.rate_limit_project
    in_store = deps.counters is None
    pid = project.project_id
    active: list[tuple[str | None, str, RateLimit]] = []  # (a user reference to resolve, bucket, limit)
    if user_limit is not None:
        if in_store and _may_name_a_user(user_ref):  # resolved by the statement that counts the hit
            active.append((user_ref, user_bucket(user_ref), user_limit))
        else:
            active.append((None, user_bucket_of(deps.store, pid, user_ref), user_limit))
    if project_limit is not None:
        active.append((None, PROJECT_BUCKET, project_limit))
    if not active:
        return
    epoch = deps.clock().timestamp()
    hits: list[Hit | UserHit] = []
    for ref, bucket, limit in active:
        window = limit.window_start(epoch)
        end = window + limit.period_seconds
        hits.append((pid, bucket, window, end) if ref is None else UserHit(pid, ref, bucket, window, end))
    if deps.counters is not None and deps.store.check_pending():
        with deps.store.transaction(readonly=True):
            pass  # a request's credential is confirmed before it counts anywhere (services.credentials)
    if deps.counters is None:
        counts = deps.store.count_hits(hits, epoch)
    else:
        counts = deps.counters.hit([h for h in hits if not isinstance(h, UserHit)], epoch)
    if any(count > limit.limit for count, (_, _, limit) in zip(counts, active, strict=True)):
        raise errors.RateLimited("user_id")


# --- rule 2: the user bucket ------------------------------------------------------------------------------


def user_bucket(value: str) -> str:
    """The counter bucket of a value: itself when it is short printable ASCII (every well-formed id is),
    else its SHA-256, so that no length, NUL byte or lone surrogate a caller sends can fail the counter's
    insert."""
    if len(value) <= _MAX_RAW_ID and value.isascii() and value.isprintable():
        return f"user:{value}"
    return "user#" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _may_name_a_user(value: str) -> bool:
    from totpflow.server.services.validation import EXTERNAL_ID

    return ids.USER_ID.fullmatch(value) is not None or EXTERNAL_ID.fullmatch(value) is not None


def user_bucket_of(store: Storage, project_id: str, user_ref: str) -> str:
    """The bucket of the user ``user_ref`` names (by its id or its external id), else of the value sent."""
    if _may_name_a_user(user_ref):
        with store.transaction(readonly=True) as tx:
            resolved = tx.resolve_user_id(project_id, user_ref)
        if resolved is not None:
            return user_bucket(resolved)
    return user_bucket(user_ref)


# --- rule 3: where the hits are counted -------------------------------------------------------------------


class RateCounters(Protocol):
    def hit(self, hits: Sequence[Hit], now_epoch: float) -> list[int]:
        """Count one request in each counter; the new counts, in order."""
        ...

    def close(self) -> None: ...


class StoreCounters:
    """Counters in the ``rate_counters`` table of the store."""

    def __init__(self, store: Storage) -> None:
        self.store = store

    def hit(self, hits: Sequence[Hit], now_epoch: float) -> list[int]:
        return self.store.count_hits(hits, now_epoch)

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
