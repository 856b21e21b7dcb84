"""Round trips of the enrollment flow's use cases: SQL statements and transactions per call, bounded so that a
regression (a re-read, a per-row statement, a transaction of its own) fails here, and the records the use
cases build instead of reading back are checked against what reading them back returns.

Counts come from the store's ``observe`` hook (the per-request queries it sends as plain SQL, and each
transaction it begins) and from SQLAlchemy's ``before_cursor_execute`` and ``begin`` events (the queries it
still sends through SQLAlchemy Core). Statements exclude ``BEGIN`` and ``COMMIT``. Rate limits count in
statements of their own (``totpflow.server.rate_limits``, tested there); they are off here so the bounds
measure the use cases alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
from frozen_clock import FrozenClock
from sqlalchemy import event
from svc_totp_codes import code_for

from totpflow.server import errors, services
from totpflow.server.domain.models import Project
from totpflow.server.storage import Store


@dataclass
class Trips:
    statements: int = 0
    transactions: int = 0


@contextmanager
def counted(store: Store) -> Iterator[Trips]:
    trips = Trips()

    def statement(_conn: object, _cursor: object, text: str, *_: object) -> None:
        if not text.startswith("BEGIN"):
            trips.statements += 1

    def transaction(*_: object) -> None:
        trips.transactions += 1

    def observed(text: str) -> None:
        if text == "BEGIN":
            trips.transactions += 1
        else:
            trips.statements += 1

    store.observe = observed
    for engine in store.engines:  # on SQLite, durable transactions have an engine of their own
        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "begin", transaction)
    try:
        yield trips
    finally:
        store.observe = None
        for engine in store.engines:
            event.remove(engine, "before_cursor_execute", statement)
            event.remove(engine, "begin", transaction)


@pytest.fixture
def quiet(deps: services.Deps) -> services.Deps:
    """``deps`` without rate limits."""
    return replace(deps, policy=replace(deps.policy, rate_limit_user=None, rate_limit_project=None))


def within(trips: Trips, statements: int, transactions: int) -> None:
    assert trips.statements <= statements and trips.transactions <= transactions, (
        f"{trips} exceeds {statements} statements in {transactions} transactions"
    )


def test_enrollment_flow_round_trips(
    quiet: services.Deps, project_and_secret: tuple[Project, str], clock: FrozenClock
) -> None:
    deps = quiet
    project, secret = project_and_secret
    # Warm: the signing key exists and the credentials were checked once; every use case then runs as the
    # server runs it, with the remembered credential confirmed in its first transaction (services.run_as).
    services.authenticate_project(deps, project.project_id, secret)
    credential = services.remembered_credential(deps, project.project_id, secret)
    assert credential is not None and credential.project == project
    warm = services.run_as(deps, credential, services.create_user, email="warm@example.com")
    warm_totp = services.run_as(deps, credential, services.create_totp, user_id=warm.user_id)
    services.run_as(
        deps,
        credential,
        services.authenticate_totp,
        user_id=warm.user_id,
        totp_code=code_for(warm_totp.secret, clock()),
        session_duration_minutes=60,
    )
    services.run_as(deps, credential, services.get_user, warm.user_id)  # reads the key set created above

    with counted(deps.store) as trips:
        assert services.remembered_credential(deps, project.project_id, secret) == credential
    within(trips, 0, 0)
    with counted(deps.store) as trips:
        user = services.run_as(deps, credential, services.create_user, email="flow@example.com")
    within(trips, 3, 1)  # the credential (and key generation), users, emails
    with counted(deps.store) as trips:
        created = services.run_as(deps, credential, services.create_totp, user_id=user.user_id)
    within(trips, 4, 1)  # credential, the user with its parts, totps, recovery codes (one multi-row INSERT)
    with counted(deps.store) as trips:
        result = services.run_as(
            deps,
            credential,
            services.authenticate_totp,
            user_id=user.user_id,
            totp_code=code_for(created.secret, clock()),
            session_duration_minutes=60,
        )
    # the credential and key generation (the remembered keys are current), the user with its parts and live
    # TOTP, step+verify, success, session, factor
    within(trips, 6, 1)
    assert result.session is not None
    with counted(deps.store) as trips:
        services.run_as(deps, credential, services.get_user, user.user_id)
    within(trips, 2, 1)
    with counted(deps.store) as trips:
        services.run_as(deps, credential, services.authenticate_session, session_token=result.session_token)
    # the credential and key generation, the session with its factors, the user with its parts, update
    within(trips, 4, 1)


def test_credentials_are_remembered_only_while_right(
    deps: services.Deps, project_and_secret: tuple[Project, str]
) -> None:
    project, secret = project_and_secret
    services.authenticate_project(deps, project.project_id, secret)
    for wrong in (secret + "x", "", secret.upper()):
        with counted(deps.store) as trips, pytest.raises(errors.UnauthorizedCredentials):
            services.authenticate_project(deps, project.project_id, wrong)
        assert trips.transactions == 1, "a wrong secret is always checked against the database"
    with counted(deps.store) as trips, pytest.raises(errors.UnauthorizedCredentials):
        services.authenticate_project(deps, "project-test-unknown", secret)
    assert trips.transactions == 1
    # A secret changed in this process is effective at once: the old one is refused, the new one accepted.
    services.ensure_project(deps, project_id=project.project_id, secret="rotated-secret", name="Acme Test")
    with pytest.raises(errors.UnauthorizedCredentials):
        services.authenticate_project(deps, project.project_id, secret)
    renamed = services.ensure_project(
        deps, project_id=project.project_id, secret="rotated-secret", name="New"
    )
    assert services.authenticate_project(deps, project.project_id, "rotated-secret") == renamed


def test_remembered_project_needs_a_recent_success_and_the_same_secret(
    deps: services.Deps, project_and_secret: tuple[Project, str]
) -> None:
    """What the HTTP layer checks on the event loop before it sends a request to the database."""
    project, secret = project_and_secret
    with counted(deps.store) as trips:
        assert services.remembered_project(deps, project.project_id, secret) is None
        services.authenticate_project(deps, project.project_id, secret)
        assert services.remembered_project(deps, project.project_id, secret) == project
        assert services.remembered_project(deps, project.project_id, secret + "x") is None
        assert services.remembered_project(deps, "project-test-unknown", secret) is None
    assert trips.transactions == 1, "only authenticate_project reads the database"


CREATE_USER_CASES: list[dict[str, Any]] = [
    {"email": "plain@example.com"},
    {"phone_number": "+12025550123"},
    {"email": "Both.Kinds@Example.com", "phone_number": "+12025550124"},
    {
        "email": "full@example.com",
        "name": {"first_name": "Ada", "middle_name": "", "last_name": "Lovelace"},
        "trusted_metadata": {"tier": 3, "tags": ["a", "b"], "nested": {"x": None, "y": 2.5}},
        "untrusted_metadata": {"theme": "dark"},
        "external_id": "ext-round-trip",
        "roles": ["admin", "stytch_user", "admin"],
    },
    {"email": "pending@example.com", "create_user_as_pending": True},
]


@pytest.mark.parametrize("case", CREATE_USER_CASES, ids=lambda c: ",".join(sorted(c)))
def test_records_built_without_reading_back_equal_the_stored_ones(
    quiet: services.Deps, project: Project, clock: FrozenClock, case: dict[str, Any]
) -> None:
    from totpflow.server.domain.models import Name

    deps = quiet
    kwargs = dict(case)
    if "name" in kwargs:
        kwargs["name"] = Name(**kwargs["name"])
    user = services.create_user(deps, project, **kwargs)
    assert services.get_user(deps, project, user.user_id) == user

    created = services.create_totp(deps, project, user_id=user.user_id)
    assert services.get_user(deps, project, user.user_id) == created.user

    claims = {"plan": "gold", "n": [1, 2]}
    first = services.authenticate_totp(
        deps,
        project,
        user_id=user.user_id,
        totp_code=code_for(created.secret, clock()),
        session_duration_minutes=60,
        session_custom_claims=claims,
    )
    assert first.user.status == "active"
    assert services.get_user(deps, project, user.user_id) == first.user
    assert services.get_sessions(deps, project, user_id=user.user_id) == [first.session]

    # The next step's code on the existing session, then a recovery code on it: each result as stored.
    clock.advance(seconds=30)
    again = services.authenticate_totp(
        deps,
        project,
        user_id=user.user_id,
        totp_code=code_for(created.secret, clock()),
        session_token=first.session_token,
        session_duration_minutes=120,
    )
    assert services.get_user(deps, project, user.user_id) == again.user
    assert services.get_sessions(deps, project, user_id=user.user_id) == [again.session]
    checked = services.authenticate_session(
        deps,
        project,
        session_token=first.session_token,
        session_duration_minutes=90,
        session_custom_claims={"plan": None, "seat": 7},
    )
    assert checked.session is not None and checked.session.custom_claims == {"n": [1, 2], "seat": 7}
    assert services.get_sessions(deps, project, user_id=user.user_id) == [checked.session]
    assert services.get_user(deps, project, user.user_id) == checked.user
    recovered = services.recover(
        deps,
        project,
        user_id=user.user_id,
        recovery_code=created.recovery_codes[0],
        session_token=first.session_token,
        session_custom_claims={"via": "recovery"},
    )
    assert recovered.session is not None
    assert [f.type for f in recovered.session.authentication_factors] == ["totp", "recovery_codes"]
    assert services.get_user(deps, project, user.user_id) == recovered.user
    assert services.get_sessions(deps, project, user_id=user.user_id) == [recovered.session]
    fresh = services.recover(
        deps,
        project,
        user_id=user.user_id,
        recovery_code=created.recovery_codes[1],
        session_duration_minutes=5,
    )
    assert fresh.session in services.get_sessions(deps, project, user_id=user.user_id)


def test_an_expired_unverified_totp_is_still_replaced(
    quiet: services.Deps, project: Project, clock: FrozenClock
) -> None:
    deps = quiet
    user = services.create_user(deps, project, email="expired@example.com")
    first = services.create_totp(deps, project, user_id=user.user_id, expiration_minutes=5)
    with pytest.raises(errors.ActiveTotpExists):
        services.create_totp(deps, project, user_id=user.user_id)
    clock.advance(minutes=6)
    second = services.create_totp(deps, project, user_id=user.user_id)
    assert [t.totp_id for t in second.user.totps] == [second.totp_id] != [first.totp_id]
    assert services.get_user(deps, project, user.user_id) == second.user
