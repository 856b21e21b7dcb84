"""Cross-connection invariants under contention: 20 threads, each with its own database connection, race
on the same TOTP code, recovery code, failure counter, enrolment and signing-key creation. The database
decides."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from frozen_clock import FrozenClock
from svc_totp_codes import code_for, wrong_code

from totpflow.server import errors, services
from totpflow.server.domain.models import Project

THREADS = 20


def race(action: Callable[[], Any]) -> Counter[str]:
    """Run ``action`` in THREADS threads released together; count results by outcome class name."""
    barrier = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            action()
            outcome = "ok"
        except errors.ServerError as exc:
            outcome = type(exc).__name__
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return Counter(outcomes)


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


def test_same_recovery_code_succeeds_exactly_once(deps: services.Deps, project: Project) -> None:
    user = services.create_user(deps, project, email="race@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
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
