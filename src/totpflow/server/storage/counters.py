"""Rate-limit counters in the ``rate_counters`` table (the rule: ``totpflow.server.rate_limits``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete

from totpflow.server.storage.base import Queries, by_dialect
from totpflow.server.storage.records import Hit
from totpflow.server.storage.schema import rate_counters


def _hit_statement(dialect: Any) -> Any:
    """``INSERT … ON CONFLICT (project_id, bucket, window_start) DO UPDATE SET hits = hits + 1 RETURNING
    hits``: one atomic statement on SQLite (3.35+) and PostgreSQL."""
    stmt = dialect.insert(rate_counters).values(
        project_id=bindparam("pid"),
        bucket=bindparam("bucket"),
        window_start=bindparam("window"),
        expires_at=bindparam("expires"),
        hits=1,
    )
    return stmt.on_conflict_do_update(
        index_elements=["project_id", "bucket", "window_start"],
        set_={"hits": rate_counters.c.hits + 1},
    ).returning(rate_counters.c.hits)


_HIT = by_dialect(_hit_statement)
_PRUNE_ENDED = delete(rate_counters).where(rate_counters.c.expires_at <= bindparam("now"))


class CounterQueries(Queries):
    def count_hits(self, hits: Sequence[Hit]) -> list[int]:
        """Add one to each counter (created at 1 in its window); the new counts, in order. On PostgreSQL
        this transaction's commit does not wait for its WAL flush: counters need atomicity, not
        durability (SQLite's NORMAL commits never flush)."""
        if self.dialect == "postgresql":
            self._c.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
        statement = _HIT[self.dialect]
        return [
            int(
                self._c.execute(
                    statement, {"pid": pid, "bucket": bucket, "window": window, "expires": end}
                ).scalar_one()
            )
            for pid, bucket, window, end in hits
        ]

    def prune_counters(self, now_epoch: int) -> None:
        """Delete the counters whose window ended by ``now_epoch``."""
        self._c.execute(_PRUNE_ENDED, {"now": now_epoch})
