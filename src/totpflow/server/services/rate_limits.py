"""Rate limits on ``/v1/totps/authenticate`` and ``/v1/totps/recover``, per ``user_id`` and per project
(stytch-api.md §9: 429 ``too_many_requests``), beyond the per-user failure lock.

Every request, successful or not, counts one hit in a fixed window ("intervals are not rolling", §9) of each
limit the policy sets (``Policy.rate_limit_user``, ``Policy.rate_limit_project``). The counters live in the
store, so the limits hold across processes and hosts: one ``INSERT … ON CONFLICT DO UPDATE SET hits = hits + 1
RETURNING hits`` per limit, in one short transaction of its own, committed before the attempt is judged (a
failed or rolled-back attempt still counts). A request whose hit takes a counter past its limit is refused.

The user bucket is the ``user_id`` as the caller sent it (a user id or an external id; an unknown one counts
too, so probing for users is limited as well); ids longer than 128 characters are bucketed by their SHA-256.
Ended windows are deleted by whichever process first finds, at most once a minute, that it is its turn: one
indexed range delete, off the hot path of all other requests.
"""

from __future__ import annotations

import hashlib

from totpflow.server import errors
from totpflow.server.domain.models import Project
from totpflow.server.policy import RateLimit
from totpflow.server.services.deps import Deps
from totpflow.server.storage import Tx

PRUNE_EVERY_SECONDS = 60
PROJECT_BUCKET = "project"
_MAX_RAW_ID = 128


def user_bucket(user_id: str) -> str:
    """The counter bucket of a ``user_id`` as sent (bounded in length whatever the caller sent)."""
    if len(user_id) <= _MAX_RAW_ID:
        return f"user:{user_id}"
    return "user#" + hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()


def _over(tx: Tx, project_id: str, bucket: str, limit: RateLimit, epoch: float) -> bool:
    window = limit.window_start(epoch)
    return tx.hit_counter(project_id, bucket, window, window + limit.period_seconds) > limit.limit


def check(deps: Deps, project: Project, user_id: str) -> None:
    """Count this request against the user's and the project's limits; ``RateLimited`` past either."""
    user_limit, project_limit = deps.policy.rate_limit_user, deps.policy.rate_limit_project
    if user_limit is None and project_limit is None:
        return
    epoch = deps.clock().timestamp()
    over = False
    with deps.store.transaction() as tx:
        if user_limit is not None:
            over |= _over(tx, project.project_id, user_bucket(user_id), user_limit, epoch)
        if project_limit is not None:
            over |= _over(tx, project.project_id, PROJECT_BUCKET, project_limit, epoch)
        if epoch >= deps.store.next_counter_prune:
            deps.store.next_counter_prune = epoch + PRUNE_EVERY_SECONDS
            tx.prune_expired_counters(int(epoch))
    if over:
        raise errors.RateLimited("user_id")
