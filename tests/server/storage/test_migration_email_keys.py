"""Migration 0007 recomputes the email keys of a database created at schema 0006 (keys lower-cased only) as
``NFC(lower(NFC(email)))``, on SQLite and PostgreSQL: a key that does not change is kept, the others are
rewritten oldest user first, and a row whose new key another row already holds in its project (one address in
two Unicode spellings, two users the old rule kept apart) keeps its old key, with a warning naming both email
ids. No row is lost; afterwards neither spelling can be created again, and search finds the user by either."""

from __future__ import annotations

import logging
import secrets
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from frozen_clock import FrozenClock
from sqlalchemy import MetaData, create_engine, insert, select, text

from totpflow.server import errors, services
from totpflow.server.crypto import Cipher
from totpflow.server.domain import ids
from totpflow.server.domain.models import Project
from totpflow.server.storage import NewUser, Store, open_store
from totpflow.server.storage.migrate import upgrade
from totpflow.server.storage.schema import emails, users

NOW = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
COMPOSED = "zo\u00e9@x.io"  # é as one code point, U+00E9
DECOMPOSED = "zoe\u0301@x.io"  # e and U+0301 COMBINING ACUTE ACCENT
IDN_COMPOSED = "bob@b\u00fccher.example"  # ü, U+00FC
IDN_DECOMPOSED = "Bob@bu\u0308cher.example"  # u and U+0308 COMBINING DIAERESIS
# Two orders of the same two marks: canonical ordering puts the dot below (class 220) before the acute (230).
MARKS_OUT_OF_ORDER = "e\u0301\u0323@y.io"
MARKS_IN_ORDER = "e\u0323\u0301@y.io"


def _engine_url(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        return database_url
    return "postgresql+psycopg://" + database_url.split("://", 1)[1]


def _at_0006_with_emails(database_url: str, spellings: dict[str, list[str]]) -> dict[str, str]:
    """A database at schema 0006 whose projects (by id) hold one user per address, a second older than the
    next, each address keyed as 0006's code keyed it (``lower()``); returns email_id by address."""
    engine = create_engine(_engine_url(database_url))
    upgrade(engine, "0006")
    store = Store(engine)
    email_ids: dict[str, str] = {}
    with store.transaction() as tx:
        for n, (project_id, addresses) in enumerate(spellings.items()):
            tx.insert_project(Project(project_id, project_id, NOW), b"\0" * 32)
            for age, address in enumerate(addresses):
                user_id, email_id = ids.user_id(), ids.email_id()
                created = NOW + timedelta(seconds=100 * n + age)
                tx.insert_user(
                    project_id,
                    NewUser(user_id, "active", created, None, {}, {}, None, ("stytch_user",), None, None),
                )
                tx.execute(
                    insert(emails).values(
                        email_id=email_id,
                        project_id=project_id,
                        user_id=user_id,
                        email=address,
                        email_key=address.lower(),
                        verified=False,
                    )
                )
                email_ids[f"{project_id} {address}"] = email_id
    engine.dispose()
    return email_ids


def _keys(store: Store) -> dict[str, str]:
    with store.engine.connect() as connection:
        return {
            r.email_id: r.email_key for r in connection.execute(select(emails.c.email_id, emails.c.email_key))
        }


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def migration_warnings() -> Iterator[list[str]]:
    """The warnings of the migrations' logger (its own handler: whatever earlier tests did to propagation)."""
    logger, handler = logging.getLogger("totpflow.server.migrations"), _Records()
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


def test_keys_are_normalised_and_spellings_kept_apart_before_are_reported(
    database_url: str, migration_warnings: list[str]
) -> None:
    a, b = "project-test-nfc-a", "project-test-nfc-b"
    email_ids = _at_0006_with_emails(
        database_url,
        {
            # oldest first within a project
            a: [
                COMPOSED,
                DECOMPOSED,
                IDN_DECOMPOSED,
                IDN_COMPOSED,
                MARKS_OUT_OF_ORDER,
                MARKS_IN_ORDER,
                "Plain@X.io",
            ],
            b: [DECOMPOSED],
        },
    )
    store = open_store(database_url)
    try:
        keys = _keys(store)
        assert len(keys) == 8  # no row lost

        def key(project_id: str, address: str) -> str:
            return keys[email_ids[f"{project_id} {address}"]]

        # unchanged keys stay; a legacy key stays when another spelling holds the new one
        assert key(a, COMPOSED) == COMPOSED
        assert key(a, DECOMPOSED) == DECOMPOSED  # legacy: COMPOSED holds the NFC key
        assert key(a, IDN_COMPOSED) == IDN_COMPOSED  # unchanged, although the decomposed user is older
        assert key(a, IDN_DECOMPOSED) == IDN_DECOMPOSED.lower()  # legacy
        # both change to one key: the older user gets it
        assert key(a, MARKS_OUT_OF_ORDER) == "\u1eb9\u0301@y.io"
        assert key(a, MARKS_IN_ORDER) == MARKS_IN_ORDER  # legacy
        assert key(a, "Plain@X.io") == "plain@x.io"
        # another project's spelling is its own: normalised
        assert key(b, DECOMPOSED) == COMPOSED

        messages = migration_warnings
        assert len(messages) == 3, messages
        for kept, holder in (
            (DECOMPOSED, COMPOSED),
            (IDN_DECOMPOSED, IDN_COMPOSED),
            (MARKS_IN_ORDER, MARKS_OUT_OF_ORDER),
        ):
            assert any(email_ids[f"{a} {kept}"] in m and email_ids[f"{a} {holder}"] in m for m in messages), (
                kept,
                messages,
            )
        assert not any("@" in m for m in messages)  # ids, never an address

        # New users: neither spelling of a migrated address can be created again, in either project.
        deps = services.Deps(store=store, clock=FrozenClock(NOW), cipher=Cipher(secrets.token_bytes(32)))
        for project_id, address in (
            (a, DECOMPOSED),
            (a, COMPOSED.upper()),
            (a, IDN_DECOMPOSED),
            (b, COMPOSED),
        ):
            project = Project(project_id, project_id, NOW)
            with pytest.raises(errors.DuplicateEmail):
                services.create_user(deps, project, email=address)
    finally:
        store.dispose()


def test_an_empty_database_migrates(database_url: str) -> None:
    store = open_store(database_url)
    try:
        assert _keys(store) == {}
    finally:
        store.dispose()


def test_a_key_longer_than_a_key_may_be_under_nfc_is_kept_with_a_warning(
    database_url: str, migration_warnings: list[str]
) -> None:
    # U+FB2C is one code point that NFC writes as three: an address accepted under the old rule (206
    # characters) whose NFC key (606) neither fits PostgreSQL's column nor the 254 a key may have
    grown = "a@" + "\ufb2c" * 200 + ".com"
    email_ids = _at_0006_with_emails(
        database_url, {"project-test-nfc-long": [grown, COMPOSED.replace("z", "y")]}
    )
    store = open_store(database_url)  # migrates; on PostgreSQL the long key failed the whole upgrade
    try:
        keys = _keys(store)
        assert keys[email_ids[f"project-test-nfc-long {grown}"]] == grown.lower()
        assert keys[email_ids[f"project-test-nfc-long {COMPOSED.replace('z', 'y')}"]] == "yo\u00e9@x.io"
        (message,) = migration_warnings
        assert email_ids[f"project-test-nfc-long {grown}"] in message and "@" not in message
    finally:
        store.dispose()


class _CommittedAtEmit(logging.Handler):
    """Each warning of the migrations' logger with the schema revision another connection reads at that
    moment: "0007" once the migration has committed, "0006" while it may still roll back."""

    def __init__(self, database_url: str) -> None:
        super().__init__(logging.WARNING)
        self.engine = create_engine(_engine_url(database_url))
        self.seen: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        with self.engine.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        self.seen.append((record.getMessage(), revision))


@pytest.fixture
def committed_at_emit(database_url: str) -> Iterator[_CommittedAtEmit]:
    logger, handler = logging.getLogger("totpflow.server.migrations"), _CommittedAtEmit(database_url)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        handler.engine.dispose()


def test_warnings_are_logged_once_the_migration_has_committed(
    database_url: str, committed_at_emit: _CommittedAtEmit
) -> None:
    grown = "a@" + "\ufb2c" * 200 + ".com"
    email_ids = _at_0006_with_emails(database_url, {"project-test-nfc-commit": [COMPOSED, DECOMPOSED, grown]})
    store = open_store(database_url)
    store.dispose()
    assert len(committed_at_emit.seen) == 2, committed_at_emit.seen
    assert all(revision == "0007" for _, revision in committed_at_emit.seen), committed_at_emit.seen
    messages = " ".join(message for message, _ in committed_at_emit.seen)
    for address in (DECOMPOSED, grown):
        assert email_ids[f"project-test-nfc-commit {address}"] in messages


def test_a_migration_rolled_back_logs_no_warning_of_0007(
    database_url: str, migration_warnings: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """0007 ran and found a conflict, then the upgrade failed before its commit: nothing was re-keyed, so
    nothing is reported; the next upgrade reports it once."""
    from alembic import command

    email_ids = _at_0006_with_emails(database_url, {"project-test-nfc-rollback": [COMPOSED, DECOMPOSED]})
    real_upgrade = command.upgrade

    def upgrade_then_fail(*args: object, **kwargs: object) -> None:
        real_upgrade(*args, **kwargs)  # type: ignore[arg-type]
        raise RuntimeError("the upgrade fails after 0007, before its commit")

    monkeypatch.setattr(command, "upgrade", upgrade_then_fail)
    engine = create_engine(_engine_url(database_url))
    try:
        with pytest.raises(RuntimeError, match="before its commit"):
            upgrade(engine)
        with engine.connect() as connection:
            assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "0006"
        assert migration_warnings == []
        monkeypatch.setattr(command, "upgrade", real_upgrade)
        upgrade(engine)
    finally:
        engine.dispose()
    (message,) = migration_warnings
    assert email_ids[f"project-test-nfc-rollback {DECOMPOSED}"] in message


def _at_0006_with_many_emails(database_url: str, count: int) -> None:
    """A database at schema 0006 with ``count`` users of one email each, inserted in bulk; every key is one
    0007 rewrites (a decomposed é)."""
    engine = create_engine(_engine_url(database_url))
    upgrade(engine, "0006")
    project_id = "project-test-nfc-many"
    with Store(engine).transaction() as tx:
        tx.insert_project(Project(project_id, project_id, NOW), b"\0" * 32)
    with engine.begin() as connection:
        user_rows: list[dict[str, object]] = []
        email_rows: list[dict[str, object]] = []
        for n in range(count):
            user_id = ids.user_id()
            user_rows.append(
                {
                    "user_id": user_id,
                    "project_id": project_id,
                    "status": "active",
                    "created_at": NOW + timedelta(microseconds=n),
                    "trusted_metadata": {},
                    "untrusted_metadata": {},
                    "roles": ["stytch_user"],
                }
            )
            address = f"user-{n:08d}-zoe\u0301@x.io"
            email_rows.append(
                {
                    "email_id": ids.email_id(),
                    "project_id": project_id,
                    "user_id": user_id,
                    "email": address,
                    "email_key": address,
                    "verified": False,
                }
            )
        connection.execute(insert(users), user_rows)
        connection.execute(insert(emails), email_rows)
    engine.dispose()


def _drop_all(database_url: str) -> None:
    """Every table of the database, ``alembic_version`` included, dropped: an empty database again."""
    engine = create_engine(_engine_url(database_url))
    try:
        tables = MetaData()
        tables.reflect(engine)
        tables.drop_all(engine)
    finally:
        engine.dispose()


def _migration_peak(database_url: str, count: int) -> int:
    """The most memory (bytes, Python's allocations) migrating a database of ``count`` emails to the head
    held at once."""
    _at_0006_with_many_emails(database_url, count)
    engine = create_engine(_engine_url(database_url))
    tracemalloc.start()
    try:
        upgrade(engine)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        engine.dispose()


def test_the_migration_holds_a_batch_of_emails_at_a_time(database_url: str) -> None:
    """Memory stays flat however many emails there are: three times the rows (each held row and its key some
    700 bytes of Python objects) take about the same peak, as a batch is held at a time, not every row."""
    _migration_peak(database_url, 1_000)  # the backend's imports and first loads, not counted
    _drop_all(database_url)
    small = _migration_peak(database_url, 1_500)
    _drop_all(database_url)
    large = _migration_peak(database_url, 4_500)
    store = open_store(database_url)
    try:
        keys = _keys(store)
        assert len(keys) == 4_500 and all("e\u0301" not in key for key in keys.values())
    finally:
        store.dispose()
    assert large < small * 1.75, (small, large)  # every row held: about 2.6×
