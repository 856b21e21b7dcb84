"""Every use case in ``services.ON_LOOP`` (run on the event loop's own thread, ``Store.run_on_loop``) leaves
the loop running while it waits: here another thread holds the store's write lock, and the call, successful
or failing, ends once it is free, while a ticker on the same loop keeps ticking. A project's first session
generates its signing key in a helper thread. Real SQLite stores (PostgreSQL never runs calls on the loop)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from frozen_clock import FrozenClock
from loop_ticker import kept_running, with_ticker
from svc_totp_codes import code_for

from totpflow.server import errors, services
from totpflow.server.domain.models import Project
from totpflow.server.services import keys
from totpflow.server.storage import Store

NO_USER = "user-test-00000000-0000-4000-8000-000000000000"
NO_TOTP = "totp-test-00000000-0000-4000-8000-000000000000"
HOLD = 0.3
Calls = list[Callable[[], object]]


@pytest.fixture(autouse=True)
def sqlite_only(store: Store) -> None:
    if store.dialect != "sqlite":
        pytest.skip("PostgreSQL runs every call in a thread")


def calls(deps: services.Deps, project: Project, clock: FrozenClock) -> dict[object, tuple[Calls, Calls]]:
    """For each use case of the list: calls that succeed, and calls that fail."""
    user = services.create_user(deps, project, email="one@example.com")
    other = services.create_user(deps, project, email="two@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
    second = services.create_totp(deps, project, user_id=other.user_id)
    session = services.authenticate_totp(
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
        services.get_user: (
            [lambda: services.get_user(deps, project, user.user_id)],
            [lambda: services.get_user(deps, project, NO_USER)],
        ),
        services.update_user: (
            [lambda: services.update_user(deps, project, user.user_id, trusted_metadata={"plan": "gold"})],
            [lambda: services.update_user(deps, project, NO_USER, trusted_metadata={"plan": "gold"})],
        ),
        services.delete_user: (
            [lambda: services.delete_user(deps, project, services.create_user(
                deps, project, email="five@example.com").user_id)],
            [lambda: services.delete_user(deps, project, NO_USER)],
        ),
        services.delete_totp: (
            [lambda: services.delete_totp(deps, project, services.create_totp(
                deps, project, user_id=services.create_user(
                    deps, project, email="six@example.com").user_id).totp_id)],
            [lambda: services.delete_totp(deps, project, NO_TOTP)],
        ),
        services.get_recovery_codes: (
            [lambda: services.get_recovery_codes(deps, project, user_id=user.user_id)],
            [lambda: services.get_recovery_codes(deps, project, user_id=NO_USER)],
        ),
        services.create_totp: (
            [lambda: services.create_totp(deps, project, user_id=services.create_user(
                deps, project, email="four@example.com").user_id)],
            [lambda: services.create_totp(deps, project, user_id=NO_USER)],
        ),
        services.authenticate_totp: (
            [lambda: services.authenticate_totp(
                deps, project, user_id=other.user_id, totp_code=code_for(second.secret, clock()))],
            [lambda: services.authenticate_totp(deps, project, user_id=user.user_id, totp_code="000000")],
        ),
        services.recover: (
            [lambda: services.recover(
                deps, project, user_id=user.user_id, recovery_code=created.recovery_codes[0])],
            [lambda: services.recover(deps, project, user_id=user.user_id, recovery_code="aaaa-bbbb-cccc")],
        ),
        services.authenticate_session: (
            [lambda: services.authenticate_session(deps, project, session_token=session.session_token)],
            [lambda: services.authenticate_session(deps, project, session_token="x" * 44)],
        ),
        services.get_sessions: (
            [lambda: services.get_sessions(deps, project, user_id=user.user_id)],
            [lambda: services.get_sessions(deps, project, user_id=NO_USER)],
        ),
        services.revoke_session: (
            [lambda: services.revoke_session(deps, project, session_token=session.session_token)],
            [lambda: services.revoke_session(deps, project, session_token="x" * 44)],
        ),
    }  # fmt: skip


def on_loop_while_locked(store: Store, call: Callable[[], object]) -> tuple[BaseException | None, int, float]:
    """``call`` through ``store.run_on_loop`` while another thread holds the write lock for ``HOLD``: what it
    raised (None), the ticks of a coroutine beside it, and the seconds it took."""
    holding = threading.Event()

    def hold() -> None:
        with store.transaction():
            holding.set()
            time.sleep(HOLD)

    async def work() -> BaseException | None:
        try:
            await store.run_on_loop(call)
        except errors.ServerError as exc:
            return exc
        return None

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    try:
        raised, ticks, took, _ = with_ticker(work)
    finally:
        holder.join(5)
    return raised, ticks, took


def test_the_list_is_what_is_exercised(deps: services.Deps, project: Project, clock: FrozenClock) -> None:
    assert set(calls(deps, project, clock)) == set(services.ON_LOOP)


def test_every_listed_use_case_leaves_the_loop_running_while_it_waits(
    deps: services.Deps, project: Project, store: Store, clock: FrozenClock
) -> None:
    for service, (successes, failures) in calls(deps, project, clock).items():
        name = getattr(service, "__name__", service)
        for expect_error, call in [(False, c) for c in successes] + [(True, c) for c in failures]:
            raised, ticks, took = on_loop_while_locked(store, call)
            assert (raised is not None) == expect_error, (name, raised)
            if took >= HOLD * 0.5:  # it had to wait for the lock: the loop ran meanwhile
                assert kept_running(ticks, HOLD * 0.5), (name, ticks, took)


def test_a_projects_first_signing_key_is_generated_off_the_loop(
    deps: services.Deps, store: Store, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, _ = services.create_project(deps, name="Keyless")
    user = services.create_user(deps, project, email="first@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
    generated_on: list[int] = []
    real = keys.generate_signing_key

    def spy(*args: object, **kwargs: object) -> object:
        generated_on.append(threading.get_ident())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(keys, "generate_signing_key", spy)

    async def authenticate() -> int:
        await store.run_on_loop(
            lambda: services.authenticate_totp(
                deps,
                project,
                user_id=user.user_id,
                totp_code=code_for(created.secret, clock()),
                session_duration_minutes=60,
            )
        )
        return threading.get_ident()

    loop_thread = asyncio.run(authenticate())
    assert len(generated_on) == 1 and generated_on[0] != loop_thread
