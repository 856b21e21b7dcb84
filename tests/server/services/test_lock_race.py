"""Failed attempts racing toward the user lock (lockout rule 3): with twenty attempts on one user at once,
exactly ``lock_threshold`` fail as wrong and the rest find the user locked; on SQLite, whose write
transactions run one at a time, no more than ``lock_threshold`` codes are even judged, and a right code that
comes after them is never judged. Threads call the services on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from frozen_clock import FrozenClock
from svc_totp_codes import code_for, confirmed_totp, wrong_code

from totpflow.server import errors, services
from totpflow.server.domain import totp
from totpflow.server.domain.models import Project

RACERS = 20


def race(calls: list[Any]) -> Counter[str]:
    """Run the calls at once; the name of what each raised, or ``ok``."""
    start = threading.Barrier(len(calls))

    def one(call: Any) -> str:
        start.wait()
        try:
            call()
        except errors.ServerError as exc:
            return type(exc).__name__
        return "ok"

    with ThreadPoolExecutor(len(calls)) as pool:
        return Counter(pool.map(one, calls))


@pytest.fixture
def judged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every TOTP code judged, in order."""
    seen: list[str] = []
    real = totp.verify

    def verify(key: bytes, code: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(code)
        return real(key, code, *args, **kwargs)

    monkeypatch.setattr(totp, "verify", verify)
    return seen


@pytest.mark.parametrize("with_the_right_code", [False, True])
def test_attempts_racing_past_the_threshold(
    deps: services.Deps, project: Project, clock: FrozenClock, judged: list[str], with_the_right_code: bool
) -> None:
    threshold = deps.policy.lock_threshold
    user = services.create_user(deps, project, email="racer@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
    bad, good = wrong_code(created.secret, clock.now), code_for(created.secret, clock.now)
    codes = [bad] * RACERS
    if with_the_right_code:
        codes[-1] = good
    outcome = race(
        [
            lambda c=code: services.authenticate_totp(deps, project, user_id=user.user_id, totp_code=c)
            for code in codes
        ]
    )
    if deps.store.dialect == "sqlite":  # at most `threshold` wrong codes judged in one lock cycle
        if good in judged:  # judged before the lock, it succeeded and started a new cycle
            at = judged.index(good)
            assert at < threshold and len(judged) - at - 1 <= threshold, judged
            assert outcome["ok"] == 1
        else:
            assert len(judged) <= threshold, judged
    if not with_the_right_code or "ok" not in outcome:
        assert outcome == {"UnableToAuthenticateTotp": threshold, "UserLockLimitReached": RACERS - threshold}
        assert services.get_user(deps, project, user.user_id).is_locked


def test_recovery_code_attempts_racing_past_the_threshold(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    threshold = deps.policy.lock_threshold
    user = services.create_user(deps, project, email="recovery-racer@example.com")
    confirmed_totp(deps, project, user.user_id, clock.now)
    outcome = race(
        [
            lambda i=i: services.recover(
                deps, project, user_id=user.user_id, recovery_code=f"zzzz-zzzz-{i:04d}"
            )
            for i in range(RACERS)
        ]
    )
    assert outcome == {
        "UnableToAuthenticateRecoveryCode": threshold,
        "UserLockLimitReached": RACERS - threshold,
    }
