"""Rate limits on TOTP authenticate and recover (stytch-api.md §9): fixed windows counted in the store, per
``user_id`` and per project, on SQLite and PostgreSQL, with a frozen clock."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from frozen_clock import FrozenClock
from sqlalchemy import func, select
from svc_totp_codes import code_for, wrong_code

from totpflow.server import errors, rate_limits, services
from totpflow.server.config import Settings
from totpflow.server.domain.models import Project, TotpCreated, User
from totpflow.server.errors import ConfigError
from totpflow.server.policy import Policy, RateLimit
from totpflow.server.storage import Store
from totpflow.server.storage.schema import rate_counters

SETTINGS = yaml.safe_load((Path(__file__).parents[1] / "data" / "rate_limit_settings.yaml").read_text())


def limited(deps: services.Deps, *, user: RateLimit | None, project: RateLimit | None) -> services.Deps:
    return dataclasses.replace(deps, policy=Policy(rate_limit_user=user, rate_limit_project=project))


def enrol(deps: services.Deps, project: Project, email: str) -> tuple[User, TotpCreated]:
    user = services.create_user(deps, project, email=email)
    return user, services.create_totp(deps, project, user_id=user.user_id)


def counter_rows(store: Store) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(rate_counters)).scalar_one())


@pytest.mark.parametrize("case", SETTINGS["valid"], ids=lambda c: repr(c["text"]))
def test_settings_parse(case: dict[str, object]) -> None:
    parsed = RateLimit.parse(str(case["text"]))
    expect = case["expect"]
    assert parsed == (None if expect is None else RateLimit(*expect))  # type: ignore[misc]


@pytest.mark.parametrize("text", SETTINGS["invalid"], ids=repr)
def test_bad_settings_are_refused_naming_the_setting(text: str, tmp_path: Path) -> None:
    environ = {"TOTPFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "TOTPFLOW_RATE_LIMIT_USER": text}
    with pytest.raises(ConfigError, match="--rate-limit-user"):
        Settings.load(environ)


def test_defaults_and_environment(tmp_path: Path) -> None:
    environ = {"TOTPFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    default = Settings.load(environ).policy
    assert (default.rate_limit_user, default.rate_limit_project) == (RateLimit(60, 60), None)
    environ |= {"TOTPFLOW_RATE_LIMIT_USER": "off", "TOTPFLOW_RATE_LIMIT_PROJECT": "500/1m"}
    policy = Settings.load(environ).policy
    assert (policy.rate_limit_user, policy.rate_limit_project) == (None, RateLimit(500, 60))
    flags = Settings.load(environ, rate_limit_user="5/1h", rate_limit_project="off").policy
    assert (flags.rate_limit_user, flags.rate_limit_project) == (RateLimit(5, 3600), None)


def test_per_user_limit_counts_every_attempt_in_fixed_windows(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    deps = limited(deps, user=RateLimit(3, 60), project=None)
    user, created = enrol(deps, project, "ada@example.com")
    other, other_created = enrol(deps, project, "bob@example.com")
    for _ in range(3):  # wrong codes count (below the lock threshold of 10)
        with pytest.raises(errors.UnableToAuthenticateTotp):
            services.authenticate_totp(
                deps, project, user_id=user.user_id, totp_code=wrong_code(created.secret, clock.now)
            )
    with pytest.raises(errors.RateLimited):  # a valid code too, once the window's budget is spent
        services.authenticate_totp(
            deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now)
        )
    # Another user of the project has a budget of its own.
    services.authenticate_totp(
        deps, project, user_id=other.user_id, totp_code=code_for(other_created.secret, clock.now)
    )
    # Windows are fixed (aligned to the minute), not rolling: 00:00:59 is still the first one …
    clock.now = datetime(2026, 1, 1, 0, 0, 59, tzinfo=UTC)
    with pytest.raises(errors.RateLimited):
        services.authenticate_totp(
            deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now)
        )
    # … and at 00:01:00 a new one begins.
    clock.now = datetime(2026, 1, 1, 0, 1, 0, tzinfo=UTC)
    result = services.authenticate_totp(
        deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now)
    )
    assert result.user.user_id == user.user_id


def test_authenticate_and_recover_share_the_user_budget(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    deps = limited(deps, user=RateLimit(2, 3600), project=None)
    user, created = enrol(deps, project, "ada@example.com")
    services.authenticate_totp(
        deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now)
    )
    services.recover(deps, project, user_id=user.user_id, recovery_code=created.recovery_codes[0])
    with pytest.raises(errors.RateLimited):
        services.recover(deps, project, user_id=user.user_id, recovery_code=created.recovery_codes[1])
    # The refused attempt did not use the code.
    clock.advance(hours=1)
    services.recover(deps, project, user_id=user.user_id, recovery_code=created.recovery_codes[1])


def test_one_user_has_one_budget_whether_named_by_user_id_or_external_id(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    """The bucket is the resolved user, not the id as sent: alternating the two names gains nothing."""
    deps = limited(deps, user=RateLimit(3, 60), project=None)
    user = services.create_user(deps, project, email="ada@example.com", external_id="ada-ext-1")
    created = services.create_totp(deps, project, user_id=user.user_id)
    for name in (user.user_id, "ada-ext-1", user.user_id):
        with pytest.raises(errors.UnableToAuthenticateTotp):
            services.authenticate_totp(
                deps, project, user_id=name, totp_code=wrong_code(created.secret, clock.now)
            )
    for name in ("ada-ext-1", user.user_id):
        with pytest.raises(errors.RateLimited):
            services.authenticate_totp(
                deps, project, user_id=name, totp_code=code_for(created.secret, clock.now)
            )


def test_unknown_and_oversized_user_ids_are_limited_too(deps: services.Deps, project: Project) -> None:
    deps = limited(deps, user=RateLimit(2, 60), project=None)
    for user_id in ("user-test-00000000-0000-4000-8000-000000000000", "x" * 100_000):
        for _ in range(2):
            with pytest.raises((errors.UserNotFound, errors.InvalidUserId)):
                services.authenticate_totp(deps, project, user_id=user_id, totp_code="123456")
        with pytest.raises(errors.RateLimited):
            services.authenticate_totp(deps, project, user_id=user_id, totp_code="123456")
    for odd in ("x" * 100_000, "a\x00b", "é\ud800"):
        assert rate_limits.user_bucket(odd).startswith("user#") and len(rate_limits.user_bucket(odd)) == 69


def test_per_project_limit_spans_users_and_stays_in_its_project(
    deps: services.Deps, project: Project, clock: FrozenClock
) -> None:
    deps = limited(deps, user=None, project=RateLimit(4, 3600))
    enrolled = [enrol(deps, project, f"u{i}@example.com") for i in range(5)]
    for user, created in enrolled[:4]:
        services.authenticate_totp(
            deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now)
        )
    user, created = enrolled[4]
    with pytest.raises(errors.RateLimited):
        services.authenticate_totp(
            deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now)
        )
    other_project, _ = services.create_project(deps, name="Other")
    other_user, other_created = enrol(deps, other_project, "u0@example.com")
    services.authenticate_totp(
        deps, other_project, user_id=other_user.user_id, totp_code=code_for(other_created.secret, clock.now)
    )


def test_no_limits_means_no_counters(deps: services.Deps, project: Project, clock: FrozenClock) -> None:
    deps = limited(deps, user=None, project=None)
    user, created = enrol(deps, project, "ada@example.com")
    services.authenticate_totp(
        deps, project, user_id=user.user_id, totp_code=code_for(created.secret, clock.now)
    )
    assert counter_rows(deps.store) == 0


def test_ended_windows_are_pruned(deps: services.Deps, project: Project, clock: FrozenClock) -> None:
    deps = limited(deps, user=RateLimit(100, 60), project=RateLimit(1000, 60))
    for i in range(5):
        with pytest.raises(errors.UserNotFound):
            services.authenticate_totp(deps, project, user_id=f"user-{i}", totp_code="123456")
    assert counter_rows(deps.store) == 6  # five users and the project, all in the current window
    clock.advance(minutes=2)  # every window above has ended, and the prune interval has passed
    with pytest.raises(errors.UserNotFound):
        services.authenticate_totp(deps, project, user_id="user-new", totp_code="123456")
    assert counter_rows(deps.store) == 2  # only the new window's user and project counters are left


def test_hit_is_one_atomic_statement_under_concurrency(store: Store, project: Project) -> None:
    """Concurrent hits on one counter each see a distinct count: 1..N, none lost, none repeated."""

    counters = rate_limits.StoreCounters(store)

    def hit(_: int) -> int:
        hits = [(project.project_id, "user:racer", 1_767_225_600, 1_767_225_660)]
        return counters.hit(hits, 1_767_225_600)[0]

    with ThreadPoolExecutor(max_workers=16) as pool:
        counts = sorted(pool.map(hit, range(64)))
    assert counts == list(range(1, 65))
