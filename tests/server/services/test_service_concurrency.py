"""Cross-connection invariants under contention: 20 threads, each with its own database connection, race
on the same TOTP code, recovery code, failure counter, enrolment and signing-key creation. The database
decides."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from frozen_clock import FrozenClock
from sqlalchemy import text
from svc_totp_codes import code_for, confirmed_totp, wrong_code

from totpflow.server import services
from totpflow.server.domain.models import Project

THREADS = 20


def race_each(actions: list[Callable[[], Any]]) -> Counter[str]:
    """Run each action in its own thread, released together; count results by outcome class name. Anything
    but a ``ServerError`` (an assertion inside a service) is counted by its class name too."""
    barrier = threading.Barrier(len(actions))
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(action: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            action()
            outcome = "ok"
        except Exception as exc:
            outcome = type(exc).__name__
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Counter(outcomes)


def race(action: Callable[[], Any]) -> Counter[str]:
    """Run ``action`` in THREADS threads released together; count results by outcome class name."""
    return race_each([action] * THREADS)


def test_same_valid_code_succeeds_exactly_once(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    user = services.create_user(deps, project, email="race@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
    code = code_for(created.secret, clock.now)
    outcomes = race(
        lambda: services.authenticate_totp(
            deps, project, user_id=user.user_id, totp_code=code, session_duration_minutes=30
        )
    )
    assert outcomes == Counter({"ok": 1, "TotpCodeAlreadyAuthenticated": THREADS - 1})
    assert len(services.get_sessions(deps, project, user_id=user.user_id)) == 1


def test_same_recovery_code_succeeds_exactly_once(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    user = services.create_user(deps, project, email="race@example.com")
    created = confirmed_totp(deps, project, user.user_id, clock.now)
    outcomes = race(
        lambda: services.recover(deps, project, user_id=user.user_id, recovery_code=created.recovery_codes[0])
    )
    # Every loser is a failed attempt, so with 19 of them the user also ends up locked after ten.
    assert outcomes["ok"] == 1
    assert set(outcomes) <= {"ok", "UnableToAuthenticateRecoveryCode", "UserLockLimitReached"}
    assert outcomes["UnableToAuthenticateRecoveryCode"] <= 10


def test_parallel_guessing_is_stopped_at_the_threshold(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    user = services.create_user(deps, project, email="race@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
    bad = wrong_code(created.secret, clock.now)
    outcomes = race(lambda: services.authenticate_totp(deps, project, user_id=user.user_id, totp_code=bad))
    assert outcomes == Counter({"UnableToAuthenticateTotp": 10, "UserLockLimitReached": THREADS - 10})
    assert services.get_user(deps, project, user.user_id).is_locked


def test_one_enrolment_wins(deps: services.Deps, project: Project) -> None:
    user = services.create_user(deps, project, email="race@example.com")
    outcomes = race(lambda: services.create_totp(deps, project, user_id=user.user_id))
    assert outcomes == Counter({"ok": 1, "ActiveTotpExists": THREADS - 1})
    assert len(services.get_user(deps, project, user.user_id).totps) == 1


def test_signing_key_is_created_once(deps: services.Deps, project: Project) -> None:
    kids: set[str] = set()

    def fetch() -> None:
        kids.update(k["kid"] for k in services.get_jwks(deps, project.project_id))

    assert race(fetch) == Counter({"ok": THREADS})
    assert len(kids) == 1


def test_concurrent_claim_merges_into_one_session_keep_every_claim(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    """Each request merges its claim into the claims as committed (PostgreSQL: under the row's lock), so 20
    requests adding 20 keys at once leave all 20."""
    user = services.create_user(deps, project, email="claims@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
    token = services.authenticate_totp(
        deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now),
        session_duration_minutes=60,
    ).session_token  # fmt: skip

    def add(key: str) -> Callable[[], Any]:
        return lambda: services.authenticate_session(
            deps, project, session_token=token, session_custom_claims={key: 1}
        )

    outcomes = race_each([add(f"k{i}") for i in range(THREADS)])
    assert outcomes == Counter({"ok": THREADS})
    claims = services.authenticate_session(deps, project, session_token=token).session
    assert claims is not None and set(claims.custom_claims) == {f"k{i}" for i in range(THREADS)}


def racing_a_user_delete(
    deps: services.Deps, project: Project, clock: FrozenClock, tag: int
) -> list[Callable[[], Any]]:
    """A user's deletion, with calls on that user released with it: updates, an authentication and
    recoveries into the user's session; and another user's deletion with an enrolment of that user."""
    uid = services.create_user(deps, project, email=f"gone{tag}@example.com").user_id
    created = services.create_totp(deps, project, user_id=uid)
    token = services.authenticate_totp(
        deps, project, user_id=uid, totp_code=code_for(created.secret, clock.now), session_duration_minutes=60
    ).session_token
    clock.advance(seconds=30)  # a fresh step for the racing authentication
    code = code_for(created.secret, clock.now)
    other = services.create_user(deps, project, email=f"fresh{tag}@example.com").user_id

    def update(n: int) -> Callable[[], Any]:
        return lambda: services.update_user(deps, project, uid, trusted_metadata={f"k{n}": n})

    def recover(recovery_code: str) -> Callable[[], Any]:
        return lambda: services.recover(
            deps, project, user_id=uid, recovery_code=recovery_code, session_token=token
        )

    return [
        lambda: services.delete_user(deps, project, uid),
        *(update(n) for n in range(3)),
        lambda: services.authenticate_totp(deps, project, user_id=uid, totp_code=code, session_token=token),
        *(recover(recovery_code) for recovery_code in created.recovery_codes[:3]),
        lambda: services.delete_user(deps, project, other),
        lambda: services.create_totp(deps, project, user_id=other),
    ]


def test_calls_racing_a_user_delete_find_no_user_never_fail_otherwise(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    """An update, an enrolment, an authentication or a recovery (into an existing session) that loses to the
    user's deletion is ``UserNotFound``/``TotpNotFound``/``SessionNotFound``: never a server error (an
    assertion, a deadlock), an "active TOTP exists", a replayed or wrong code, or a lock the user never
    had."""
    for tag in range(6):
        actions = racing_a_user_delete(deps, project, clock, tag)
        outcomes = race_each(actions)
        # the session a call names went with the user: session_not_found, as for any deleted session
        assert set(outcomes) <= {"ok", "UserNotFound", "TotpNotFound", "SessionNotFound"}, outcomes
        assert sum(outcomes.values()) == len(actions)


def racing_a_totp_delete(
    deps: services.Deps, project: Project, clock: FrozenClock, tag: int
) -> tuple[str, list[Callable[[], Any]]]:
    """A confirmed TOTP's deletion, with an authentication and recoveries by valid codes released with it."""
    uid = services.create_user(deps, project, email=f"t{tag}@example.com").user_id
    created = confirmed_totp(deps, project, uid, clock.now)
    clock.advance(seconds=30)  # a fresh step for the racing authentication
    code = code_for(created.secret, clock.now)

    def recover(recovery_code: str) -> Callable[[], Any]:
        return lambda: services.recover(deps, project, user_id=uid, recovery_code=recovery_code)

    return uid, [
        lambda: services.delete_totp(deps, project, created.totp_id),
        lambda: services.authenticate_totp(deps, project, user_id=uid, totp_code=code),
        *(recover(recovery_code) for recovery_code in created.recovery_codes[:4]),
    ]


def test_codes_racing_their_totps_deletion_are_not_found_and_never_counted(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    """A valid code that loses to its TOTP's deletion is ``TotpNotFound``, not a replay or a wrong code: no
    failed attempt is counted against the user."""
    for tag in range(6):
        uid, actions = racing_a_totp_delete(deps, project, clock, tag)
        outcomes = race_each(actions)
        assert set(outcomes) <= {"ok", "TotpNotFound"}, outcomes
        with deps.store.transaction(readonly=True) as tx:
            counted = tx.execute(text("SELECT failed_attempts FROM users WHERE user_id = :u"), {"u": uid})
            assert counted.scalar() == 0


def test_an_enrolment_racing_an_authentication_of_the_user_is_refused_not_deadlocked(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    """A second "create TOTP" while the user confirms the first: the authentication succeeds and the
    enrolment is ``ActiveTotpExists`` (PostgreSQL once deadlocked the two, a 500)."""
    for tag in range(8):
        uid = services.create_user(deps, project, email=f"c{tag}@example.com").user_id
        created = services.create_totp(deps, project, user_id=uid)
        code = code_for(created.secret, clock.now)
        outcomes = race_each(
            [
                lambda: services.authenticate_totp(deps, project, user_id=uid, totp_code=code),  # noqa: B023
                lambda: services.create_totp(deps, project, user_id=uid),  # noqa: B023
            ]
        )
        assert outcomes == Counter({"ok": 1, "ActiveTotpExists": 1}), outcomes
