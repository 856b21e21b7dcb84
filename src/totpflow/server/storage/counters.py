"""Rate-limit counters in the ``rate_counters`` table (the rule: ``totpflow.server.rate_limits``)."""

from __future__ import annotations

from collections.abc import Sequence

from totpflow.server.storage.base import Queries
from totpflow.server.storage.records import Hit, UserHit
from totpflow.server.storage.sql import Sql
from totpflow.server.storage.users import external_ref

# One atomic statement per counter (SQLite 3.35+ and PostgreSQL): created at 1 in its window, else one more.
_HIT_SQL = Sql(
    """
    INSERT INTO rate_counters (project_id, bucket, window_start, expires_at, hits)
    VALUES (:pid, :bucket, :window, :expires, 1)
    ON CONFLICT (project_id, bucket, window_start) DO UPDATE SET hits = rate_counters.hits + 1
    RETURNING hits
    """
)
# The same for the counter of a user named by its id or its external id (the id wins when a value is both),
# or of the value sent when it names nobody: the look-up and the count in one statement. (The project id
# is bound twice: PostgreSQL infers one type per parameter, and these two uses infer different ones.)
_USER_HIT_SQL = Sql(
    """
    INSERT INTO rate_counters (project_id, bucket, window_start, expires_at, hits)
    VALUES (
        :pid,
        COALESCE(
            (SELECT 'user:' || user_id FROM users
             WHERE project_id = :in_project AND (user_id = :ref OR external_id = :ext)
             ORDER BY user_id = :ref DESC LIMIT 1),
            :bucket
        ),
        :window, :expires, 1
    )
    ON CONFLICT (project_id, bucket, window_start) DO UPDATE SET hits = rate_counters.hits + 1
    RETURNING hits
    """
)
_ASYNC_COMMIT = Sql("SET LOCAL synchronous_commit TO OFF")  # PostgreSQL, this transaction only
_PRUNE_ENDED_SQL = Sql("DELETE FROM rate_counters WHERE expires_at <= :now")


class CounterQueries(Queries):
    def count_hits(self, hits: Sequence[Hit | UserHit]) -> list[int]:
        """Add one to each counter (created at 1 in its window); the new counts, in order. On PostgreSQL
        this transaction's commit does not wait for its WAL flush: counters need atomicity, not
        durability (SQLite's NORMAL commits never flush)."""
        if self._pg:
            self._run(_ASYNC_COMMIT)
        counts = []
        for hit in hits:
            if isinstance(hit, UserHit):
                pid, ref, bucket, window, end = hit
                params = {"pid": pid, "in_project": pid, "ref": ref, "bucket": bucket, "window": window}
                params["ext"] = external_ref(ref)
                params["expires"] = end
                row = self._run(_USER_HIT_SQL, params).fetchone()
            else:
                pid, bucket, window, end = hit
                row = self._run(
                    _HIT_SQL, {"pid": pid, "bucket": bucket, "window": window, "expires": end}
                ).fetchone()
            counts.append(int(row[0]))
        return counts

    def prune_counters(self, now_epoch: int) -> None:
        """Delete the counters whose window ended by ``now_epoch``."""
        self._run(_PRUNE_ENDED_SQL, {"now": now_epoch})
