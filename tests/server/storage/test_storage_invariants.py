"""The single-statement invariants of the store, on each backend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from totpflow.server import errors, lockout
from totpflow.server.domain.models import Project
from totpflow.server.storage import NewUser, Store

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _user(store: Store, project_id: str = "project-test-a", user_id: str = "user-test-1") -> str:
    with store.transaction() as tx:
        tx.insert_project(Project(project_id, "p", NOW), b"h")
        tx.insert_user(
            project_id,
            NewUser(user_id, "active", NOW, None, {}, {}, None, ("stytch_user",), None, None),
        )
    return user_id


def test_failure_counter_locks_at_threshold_and_refuses_while_locked(store: Store) -> None:
    uid = _user(store)
    outcomes = []
    for _ in range(4):
        with store.transaction() as tx:
            outcomes.append(
                lockout.record_failure(
                    tx, "project-test-a", uid, now=NOW, threshold=3, lock_ttl=timedelta(hours=1)
                )
            )
    assert outcomes == ["counted", "counted", "locked_now", "already_locked"]
    with pytest.raises(errors.UserLockLimitReached), store.transaction() as tx:
        lockout.clear_after_success(tx, "project-test-a", uid, now=NOW)
    with store.transaction() as tx:
        lockout.clear_after_success(tx, "project-test-a", uid, now=NOW + timedelta(hours=1))


def test_unlock_lifts_a_lock_and_clears_the_count(store: Store) -> None:
    uid = _user(store)
    with store.transaction() as tx:
        assert (
            lockout.record_failure(
                tx, "project-test-a", uid, now=NOW, threshold=1, lock_ttl=timedelta(hours=1)
            )
            == "locked_now"
        )
        assert lockout.unlock(tx, "project-test-a", uid)
        assert not lockout.unlock(tx, "project-test-a", "user-test-missing")
        user = tx.get_user("project-test-a", uid, NOW)
        assert user is not None and not user.is_locked
        assert (
            lockout.record_failure(
                tx, "project-test-a", uid, now=NOW, threshold=2, lock_ttl=timedelta(hours=1)
            )
            == "counted"
        )


def test_failure_counting_is_scoped_by_project(store: Store) -> None:
    uid = _user(store)
    with store.transaction() as tx:
        tx.insert_project(Project("project-test-b", "p", NOW), b"h")
        assert lockout.record_failure(
            tx, "project-test-b", uid, now=NOW, threshold=1, lock_ttl=timedelta(hours=1)
        ) == (
            "gone"  # no such user in project b: nothing is updated
        )
        assert tx.get_user("project-test-b", uid, NOW) is None
        user = tx.get_user("project-test-a", uid, NOW)
        assert user is not None and not user.is_locked


def test_a_failed_core_statement_that_is_caught_leaves_the_transaction_to_the_store(store: Store) -> None:
    """A statement through SQLAlchemy Core that fails inside ``store.transaction()`` and is caught does not
    end the transaction: the block's later writes and its earlier ones are rolled back together when the
    block raises (on SQLite a rolled-back connection would otherwise commit each later statement on its
    own)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with store.transaction() as tx:
        tx.insert_project(Project("project-test-joined", "p", NOW), b"h")
    # PostgreSQL refuses the later write itself (the failed statement aborted the transaction); SQLite runs it
    with pytest.raises((RuntimeError, DBAPIError)), store.transaction() as tx:
        tx.update_project("project-test-joined", name="first", secret_hash=b"h")
        with pytest.raises(DBAPIError):
            tx.execute(text("SELECT * FROM no_such_table"))
        tx.update_project("project-test-joined", name="second", secret_hash=b"h")
        raise RuntimeError("the block fails after both writes")
    with store.transaction(readonly=True) as tx:
        row = tx.get_project("project-test-joined")
        assert row is not None and row.project.name == "p"


def test_a_read_only_transaction_reads_one_snapshot(store: Store) -> None:
    """The statements of a read-only transaction agree with each other (PostgreSQL: REPEATABLE READ, READ
    ONLY; SQLite: a WAL reader's snapshot), so a user deleted in between is still seen by the later ones; a
    write after it is at the default level again (it sees the deletion)."""
    import threading

    uid = _user(store)
    with store.transaction(readonly=True) as tx:
        assert tx.resolve_user_id("project-test-a", uid) == uid

        def delete() -> None:
            with store.transaction() as writer:
                assert writer.delete_user("project-test-a", uid)

        deleting = threading.Thread(target=delete)
        deleting.start()
        deleting.join()
        assert tx.resolve_user_id("project-test-a", uid) == uid
        user = tx.get_user("project-test-a", uid, NOW)
        assert user is not None and user.user_id == uid
    for n in range(3):  # every pooled connection is back at the default level: it reads now, and writes
        with store.transaction() as tx:
            assert tx.resolve_user_id("project-test-a", uid) is None
            tx.insert_project(Project(f"project-test-after-{n}", "p", NOW), b"h")
