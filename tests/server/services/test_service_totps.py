"""TOTP enrolment, authentication, replay, user locks and recovery codes, with a frozen clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from frozen_clock import FrozenClock
from svc_totp_codes import code_for, confirmed_totp, wrong_code

from totpflow.server import errors, services
from totpflow.server.domain.models import Project, User


@pytest.fixture
def user(deps: services.Deps, project: Project) -> User:
    return services.create_user(deps, project, email="ada@example.com")


def test_create_totp_returns_secret_qr_and_codes(deps: services.Deps, project: Project, user: User) -> None:
    created = services.create_totp(deps, project, user_id=user.user_id)
    assert len(created.secret) == 32 and len(created.recovery_codes) == 10
    assert created.qr_code.startswith("data:image/png;base64, ")
    assert [(t.totp_id, t.verified) for t in created.user.totps] == [(created.totp_id, False)]


def test_one_active_totp_per_user(deps: services.Deps, project: Project, user: User) -> None:
    services.create_totp(deps, project, user_id=user.user_id, expiration_minutes=5)
    with pytest.raises(errors.ActiveTotpExists):
        services.create_totp(deps, project, user_id=user.user_id)


def test_expired_unverified_totp_is_replaced(
    deps: services.Deps, project: Project, user: User, clock: FrozenClock
) -> None:
    first = services.create_totp(deps, project, user_id=user.user_id, expiration_minutes=5)
    clock.advance(minutes=5)
    with pytest.raises(errors.ExpiredTotp):
        services.authenticate_totp(
            deps, project, user_id=user.user_id, totp_code=code_for(first.secret, clock.now)
        )
    second = services.create_totp(deps, project, user_id=user.user_id)
    assert [t.totp_id for t in second.user.totps] == [second.totp_id]


@pytest.mark.parametrize("minutes", [4, 1441])
def test_expiration_range(deps: services.Deps, project: Project, user: User, minutes: int) -> None:
    with pytest.raises(errors.InvalidExpiration):
        services.create_totp(deps, project, user_id=user.user_id, expiration_minutes=minutes)


def test_first_success_verifies_and_replay_is_refused(
    deps: services.Deps, project: Project, user: User, clock: FrozenClock
) -> None:
    created = services.create_totp(deps, project, user_id=user.user_id)
    code = code_for(created.secret, clock.now)
    result = services.authenticate_totp(deps, project, user_id=user.user_id, totp_code=code)
    assert result.session is None and result.session_token == "" and result.session_jwt == ""
    assert result.totp_id == created.totp_id
    assert result.user.totps[0].verified
    with pytest.raises(errors.TotpCodeAlreadyAuthenticated):
        services.authenticate_totp(deps, project, user_id=user.user_id, totp_code=code)
    # The previous step is older than the one just used: also a replay.
    with pytest.raises(errors.TotpCodeAlreadyAuthenticated):
        services.authenticate_totp(
            deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now, -1)
        )
    # The next step is newer: accepted once.
    services.authenticate_totp(
        deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now, 1)
    )


def test_pending_user_becomes_active(deps: services.Deps, project: Project, clock: FrozenClock) -> None:
    pending = services.create_user(deps, project, email="p@example.com", create_user_as_pending=True)
    assert pending.status == "pending"
    created = services.create_totp(deps, project, user_id=pending.user_id)
    result = services.authenticate_totp(
        deps, project, user_id=pending.user_id, totp_code=code_for(created.secret, clock.now)
    )
    assert result.user.status == "active"


@pytest.mark.parametrize("code", ["12345", "1234567", "12345a", ""])
def test_malformed_code(deps: services.Deps, project: Project, user: User, code: str) -> None:
    services.create_totp(deps, project, user_id=user.user_id)
    with pytest.raises(errors.InvalidTotpCode):
        services.authenticate_totp(deps, project, user_id=user.user_id, totp_code=code)


def test_no_totp(deps: services.Deps, project: Project, user: User) -> None:
    with pytest.raises(errors.TotpNotFound):
        services.authenticate_totp(deps, project, user_id=user.user_id, totp_code="123456")


def test_lock_after_ten_failures_and_unlock_after_ttl(
    deps: services.Deps, project: Project, user: User, clock: FrozenClock
) -> None:
    created = services.create_totp(deps, project, user_id=user.user_id)
    bad = wrong_code(created.secret, clock.now)
    for _ in range(10):
        with pytest.raises(errors.UnableToAuthenticateTotp):
            services.authenticate_totp(deps, project, user_id=user.user_id, totp_code=bad)
    locked = services.get_user(deps, project, user.user_id)
    assert locked.is_locked and locked.lock_expires_at == clock.now.replace(microsecond=0) + timedelta(
        hours=1
    )
    # While locked even the right code is refused, and so are recovery codes.
    with pytest.raises(errors.UserLockLimitReached):
        services.authenticate_totp(
            deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now)
        )
    with pytest.raises(errors.UserLockLimitReached):
        services.recover(deps, project, user_id=user.user_id, recovery_code=created.recovery_codes[0])
    clock.advance(hours=1)
    assert not services.get_user(deps, project, user.user_id).is_locked
    result = services.authenticate_totp(
        deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now)
    )
    assert not result.user.is_locked


def test_success_resets_the_failure_count(
    deps: services.Deps, project: Project, user: User, clock: FrozenClock
) -> None:
    created = services.create_totp(deps, project, user_id=user.user_id)
    for round_ in range(2):
        bad = wrong_code(created.secret, clock.now)
        for _ in range(9):
            with pytest.raises(errors.UnableToAuthenticateTotp):
                services.authenticate_totp(deps, project, user_id=user.user_id, totp_code=bad)
        services.authenticate_totp(
            deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now)
        )
        clock.advance(seconds=30)
        assert not services.get_user(deps, project, user.user_id).is_locked, round_


def test_recovery_codes_are_single_use(
    deps: services.Deps, project: Project, user: User, clock: FrozenClock
) -> None:
    created = confirmed_totp(deps, project, user.user_id, clock.now)
    code = created.recovery_codes[3]
    result = services.recover(
        deps, project, user_id=user.user_id, recovery_code=code, session_duration_minutes=30
    )
    assert result.session is not None
    factor = result.session.authentication_factors[0]
    assert (factor.type, factor.delivery_method) == ("recovery_codes", "recovery_code")
    assert factor.totp_recovery_code_id is not None and factor.totp_recovery_code_id.startswith(
        "totp-recovery-code-test-"
    )
    with pytest.raises(errors.UnableToAuthenticateRecoveryCode):
        services.recover(deps, project, user_id=user.user_id, recovery_code=code)
    _, listed = services.get_recovery_codes(deps, project, user_id=user.user_id)
    assert listed[0].totp_id == created.totp_id
    assert listed[0].recovery_codes == tuple(c for c in created.recovery_codes if c != code)


def test_unknown_and_malformed_recovery_codes(
    deps: services.Deps, project: Project, user: User, clock: FrozenClock
) -> None:
    confirmed_totp(deps, project, user.user_id, clock.now)
    with pytest.raises(errors.UnableToAuthenticateRecoveryCode):
        services.recover(deps, project, user_id=user.user_id, recovery_code="aaaa-bbbb-cccc")
    with pytest.raises(errors.InvalidRecoveryCode):
        services.recover(deps, project, user_id=user.user_id, recovery_code="AAAA-BBBB-CCCC")


def test_recovery_codes_of_a_totp_never_authenticated_are_refused(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    """Recovery codes back up a confirmed TOTP: before its first code, recover is refused and a pending user
    stays pending; the codes are listed (unverified) until the TOTP expires, then neither listed nor
    usable."""
    pending = services.create_user(deps, project, email="p@example.com", create_user_as_pending=True)
    created = services.create_totp(deps, project, user_id=pending.user_id, expiration_minutes=5)
    for _ in range(deps.policy.lock_threshold + 1):  # no failed attempt is counted: the user is not locked
        with pytest.raises(errors.NoActiveRecoveryCodeBackedFactor):
            services.recover(deps, project, user_id=pending.user_id, recovery_code=created.recovery_codes[0])
    user = services.get_user(deps, project, pending.user_id)
    assert user.status == "pending" and user.totps[0].verified is False and not user.is_locked
    _, listed = services.get_recovery_codes(deps, project, user_id=pending.user_id)
    assert listed[0].verified is False and listed[0].recovery_codes == created.recovery_codes
    clock.advance(minutes=5)
    with pytest.raises(errors.ExpiredTotp):
        services.get_recovery_codes(deps, project, user_id=pending.user_id)
    with pytest.raises(errors.ExpiredTotp):
        services.recover(deps, project, user_id=pending.user_id, recovery_code=created.recovery_codes[0])
    # a new TOTP, confirmed: its codes work, the first one's never will
    again = confirmed_totp(deps, project, pending.user_id, clock.now)
    with pytest.raises(errors.UnableToAuthenticateRecoveryCode):
        services.recover(deps, project, user_id=pending.user_id, recovery_code=created.recovery_codes[1])
    services.recover(deps, project, user_id=pending.user_id, recovery_code=again.recovery_codes[0])
    # a refused code is not used up: once its TOTP is confirmed, it works
    other = services.create_user(deps, project, email="o@example.com")
    fresh = services.create_totp(deps, project, user_id=other.user_id)
    with pytest.raises(errors.NoActiveRecoveryCodeBackedFactor):
        services.recover(deps, project, user_id=other.user_id, recovery_code=fresh.recovery_codes[0])
    services.authenticate_totp(
        deps, project, user_id=other.user_id, totp_code=code_for(fresh.secret, clock.now)
    )
    services.recover(deps, project, user_id=other.user_id, recovery_code=fresh.recovery_codes[0])


def test_delete_totp_allows_a_new_one(deps: services.Deps, project: Project, user: User) -> None:
    created = services.create_totp(deps, project, user_id=user.user_id)
    after = services.delete_totp(deps, project, created.totp_id)
    assert after.totps == ()
    with pytest.raises(errors.TotpNotFound):
        services.delete_totp(deps, project, created.totp_id)
    with pytest.raises(errors.InvalidTotpId):
        services.delete_totp(deps, project, "not-a-totp-id")
    services.create_totp(deps, project, user_id=user.user_id)
