"""User lockout: consecutive failed second-factor attempts lock a user (Stytch User Locks).

RFC 4226 §7.3 asks that such a throttle hold "across login sessions", so the count and the lock live in the
user's row (``failed_attempts``, ``lock_created_at``, ``lock_expires_at``), never in process memory, and every
change to them is ONE conditional UPDATE whose outcome the database decides. The whole rule, in order:

1. A user is locked while ``lock_expires_at`` lies in the future (:func:`is_locked`). An ended lock simply
   stops showing; nothing has to clear it.
2. An attempt on a locked user is refused before its code is judged (:func:`refuse_if_locked`: 429
   ``user_lock_limit_reached``).
3. A failed attempt (a wrong TOTP code, an unknown or used recovery code) is counted in the attempt's own
   transaction, which then commits though the attempt failed (:func:`count_failure`). Its UPDATE only touches
   a user who is not locked; it adds one to the count, and when the count reaches the threshold it sets the
   lock and restarts the count at zero (so after the lock ends the user again has ``threshold`` attempts). Of
   any number of concurrent failures, exactly one sets the lock and the later ones find the user locked.
   Counting in the same transaction as the judging matters under concurrency: on SQLite the attempts'
   transactions run one at a time, so each finds every earlier failure counted (and the lock, once set)
   before its code is judged; a count made afterwards, in a transaction of its own, let twenty parallel
   guesses all be judged in one lock cycle, and a right one among them succeed. On PostgreSQL an attempt may
   judge its code before a concurrent failure commits, but its success then waits for that failure's row
   lock and is refused by rule 4 when the failure locked the user.
4. A success, inside the attempt's own transaction, resets the count and activates a pending user, by an
   UPDATE that changes nothing while the user is locked (:func:`clear_after_success`). A success that raced a
   lock is therefore refused, and its whole transaction (the consumed TOTP step or recovery code, the
   session) rolls back.
5. An operator can lift a lock and clear the count (:func:`unlock`).

The threshold and duration are ``Policy.lock_threshold`` and ``Policy.lock_ttl`` (Stytch's defaults: 10
attempts, one hour). With a ±1 step window a guess covers three codes, so one
lock cycle gives a 6-digit code a 3×10⁻⁵ chance per user (RFC 4226 §7.4's formula).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from totpflow.server import errors, events

if TYPE_CHECKING:
    from totpflow.server.domain.models import User
    from totpflow.server.policy import Policy
    from totpflow.server.storage.protocol import Transaction

FailureOutcome = Literal["counted", "locked_now", "already_locked", "gone"]


def is_locked(lock_expires_at: datetime | None, now: datetime) -> bool:
    """Rule 1: a lock holds until its expiry (in SQL: ``totpflow.server.storage.users``, which changes the
    count and the lock only of a user for whom this is false)."""
    return lock_expires_at is not None and lock_expires_at > now


def refuse_if_locked(user: User) -> None:
    """Rule 2: ``UserLockLimitReached`` for a user locked when it was loaded."""
    if user.is_locked:
        raise errors.UserLockLimitReached("user_id")


# --- rule 3: counting a failure ---------------------------------------------------------------------------


def record_failure(
    tx: Transaction, project_id: str, user_id: str, *, now: datetime, threshold: int, lock_ttl: timedelta
) -> FailureOutcome:
    """Count one failed attempt and lock the user when the count reaches ``threshold``, in one UPDATE.
    When nothing was updated: ``"already_locked"``, or ``"gone"`` for a user deleted since it was loaded."""
    counted, lock_expires_at = tx.count_failure(
        project_id, user_id, now=now, threshold=threshold, until=now + lock_ttl
    )
    if not counted:
        return "already_locked" if tx.resolve_user_id(project_id, user_id) is not None else "gone"
    return "locked_now" if is_locked(lock_expires_at, now) else "counted"


def count_failure(
    tx: Transaction, policy: Policy, project_id: str, user_id: str, now: datetime
) -> FailureOutcome:
    """Count the failure in the attempt's transaction (which the caller then commits, not rolls back)."""
    return record_failure(
        tx, project_id, user_id, now=now, threshold=policy.lock_threshold, lock_ttl=policy.lock_ttl
    )


def failure_error(outcome: FailureOutcome, error: errors.ServerError) -> errors.ServerError:
    """The error a counted failure raises: ``error`` itself, ``UserLockLimitReached`` when the user was
    already locked, ``UserNotFound`` when it was deleted meanwhile; reports a lock this failure set."""
    if outcome == "locked_now":
        events.report(events.USER_LOCKED)
    if outcome == "gone":
        return errors.UserNotFound("user_id")
    return errors.UserLockLimitReached("user_id") if outcome == "already_locked" else error


# --- rule 4: a success ------------------------------------------------------------------------------------


def clear_after_success(tx: Transaction, project_id: str, user_id: str, *, now: datetime) -> None:
    """Reset the count and activate a pending user, in the attempt's transaction; ``UserLockLimitReached``
    when the user is locked by now, ``UserNotFound`` when it was deleted meanwhile (either rolls the attempt
    back)."""
    if not tx.clear_failures(project_id, user_id, now=now):
        if tx.resolve_user_id(project_id, user_id) is None:
            raise errors.UserNotFound("user_id")
        raise errors.UserLockLimitReached("user_id")


# --- rule 5: an operator lifts a lock ---------------------------------------------------------------------


def unlock(tx: Transaction, project_id: str, user_id: str) -> bool:
    """Lift the user's lock, if any, and clear its failure count; False when there is no such user."""
    return tx.unlock_user(project_id, user_id)
