"""Every use case in ``services.ONE_TRANSACTION`` (tried on the event loop's own thread first) opens at most
one write transaction, and no durable one: what ``Storage.run_inline`` relies on (``storage.inline``;
read-only transactions never wait). Counted on a real store of each backend, for calls that succeed and
calls that fail."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from frozen_clock import FrozenClock
from svc_totp_codes import code_for

from totpflow.server import errors, services
from totpflow.server.domain.models import Project
from totpflow.server.storage import Store

NO_USER = "user-test-00000000-0000-4000-8000-000000000000"
Calls = list[Callable[[], object]]


@contextmanager
def counted(store: Store) -> Iterator[list[str]]:
    """The transactions opened within the block: "read", "write" or "durable"."""
    opened: list[str] = []
    real = store.transaction

    @contextmanager
    def transaction(*, readonly: bool = False, durable: bool = False) -> Iterator[Any]:
        opened.append("read" if readonly else "durable" if durable else "write")
        with real(readonly=readonly, durable=durable) as tx:
            yield tx

    store.transaction = transaction  # type: ignore[method-assign]
    try:
        yield opened
    finally:
        del store.transaction


def calls(deps: services.Deps, project: Project, clock: FrozenClock) -> dict[object, tuple[Calls, Calls]]:
    """For each listed use case: calls that succeed, and calls that fail."""
    user = services.create_user(deps, project, email="one@example.com")
    other = services.create_user(deps, project, email="two@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
    services.authenticate_totp(
        deps,
        project,
        user_id=user.user_id,
        totp_code=code_for(created.secret, clock()),
        session_duration_minutes=60,
    )
    return {
        services.create_user: (
            [lambda: services.create_user(deps, project, email="three@example.com")],
            [lambda: services.create_user(deps, project, email="one@example.com")],  # DuplicateEmail
        ),
        services.create_totp: (
            [lambda: services.create_totp(deps, project, user_id=other.user_id)],
            [lambda: services.create_totp(deps, project, user_id=NO_USER)],
        ),
        services.get_user: (
            [lambda: services.get_user(deps, project, user.user_id)],
            [lambda: services.get_user(deps, project, NO_USER)],
        ),
        services.get_sessions: (
            [lambda: services.get_sessions(deps, project, user_id=user.user_id)],
            [lambda: services.get_sessions(deps, project, user_id=NO_USER)],
        ),
    }


def test_the_list_is_what_is_counted(deps: services.Deps, project: Project, clock: FrozenClock) -> None:
    assert set(calls(deps, project, clock)) == set(services.ONE_TRANSACTION)


def test_one_transaction_not_durable(
    deps: services.Deps, project: Project, store: Store, clock: FrozenClock
) -> None:
    for service, (successes, failures) in calls(deps, project, clock).items():
        name = getattr(service, "__name__", service)
        for success in successes:
            with counted(store) as opened:
                success()
            assert "durable" not in opened and opened.count("write") <= 1, (name, opened)
        for failure in failures:
            with counted(store) as opened, pytest.raises(errors.ServerError):
                failure()
            assert "durable" not in opened and opened.count("write") <= 1, (name, opened)


def test_one_write_on_a_project_without_signing_keys(deps: services.Deps, store: Store) -> None:
    """A project's first calls, before any session made it a signing key."""
    project, _ = services.create_project(deps, name="Keyless")
    with counted(store) as opened:
        user = services.create_user(deps, project, email="first@example.com")
        assert opened.count("write") == 1
        services.create_totp(deps, project, user_id=user.user_id)
        services.get_user(deps, project, user.user_id)
        services.get_sessions(deps, project, user_id=user.user_id)
    assert opened == ["write", "write", "read", "read"]
