"""Rate limits on ``/v1/totps/authenticate`` and ``/v1/totps/recover``, per ``user_id`` and per project
(stytch-api.md §9: 429 ``too_many_requests``), beyond the per-user failure lock.

Every request, successful or not, counts one hit in a fixed window ("intervals are not rolling", §9) of each
limit the policy sets (``Policy.rate_limit_user``, ``Policy.rate_limit_project``). The counters live in the
store, so the limits hold across processes and hosts: one ``INSERT … ON CONFLICT DO UPDATE SET hits = hits + 1
RETURNING hits`` per limit, in one short transaction of its own, committed before the attempt is judged (a
failed or rolled-back attempt still counts). A request whose hit takes a counter past its limit is refused.

The user bucket is the ``user_id`` as the caller sent it (a user id or an external id; an unknown one counts
too, so probing for users is limited as well); ids longer than 128 characters or with characters other than
printable ASCII are bucketed by their SHA-256.
Ended windows are deleted by whichever process first finds, at most once a minute, that it is its turn: one
indexed range delete, off the hot path of all other requests. With ``TOTPFLOW_RATE_LIMIT_REDIS`` set the same
counters live in Redis instead (``totpflow.server.rate_counters``).
"""

from __future__ import annotations

import hashlib

from totpflow.server import errors
from totpflow.server.domain.models import Project
from totpflow.server.rate_counters import Hit, StoreCounters
from totpflow.server.services.deps import Deps

PROJECT_BUCKET = "project"
_MAX_RAW_ID = 128


def user_bucket(user_id: str) -> str:
    """The counter bucket of a ``user_id`` as sent: the id itself when it is short printable ASCII (every
    well-formed id is), else its SHA-256, so that no length, NUL byte or lone surrogate a caller sends can
    fail the counter's insert."""
    if len(user_id) <= _MAX_RAW_ID and user_id.isascii() and user_id.isprintable():
        return f"user:{user_id}"
    return "user#" + hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()


def check(deps: Deps, project: Project, user_id: str) -> None:
    """Count this request against the user's and the project's limits; ``RateLimited`` past either."""
    limits = [
        (user_bucket(user_id), deps.policy.rate_limit_user),
        (PROJECT_BUCKET, deps.policy.rate_limit_project),
    ]
    active = [(bucket, limit) for bucket, limit in limits if limit is not None]
    if not active:
        return
    epoch = deps.clock().timestamp()
    hits: list[Hit] = []
    for bucket, limit in active:
        window = limit.window_start(epoch)
        hits.append((project.project_id, bucket, window, window + limit.period_seconds))
    counters = deps.counters if deps.counters is not None else StoreCounters(deps.store)
    counts = counters.hit(hits, epoch)
    if any(count > limit.limit for count, (_, limit) in zip(counts, active, strict=True)):
        raise errors.RateLimited("user_id")
