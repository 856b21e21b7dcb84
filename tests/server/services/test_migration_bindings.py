"""Migration 0003 re-encrypts the secrets of a database created at schema 0002 (bound only to their row ids)
under bindings to their owners, on SQLite and PostgreSQL: afterwards the enrolled user still signs in with
their authenticator and recovery codes, the JWKS is served, and the old ciphertexts are gone. Without the
master key, or with another one, nothing is migrated and the start-up error says why."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from frozen_clock import FrozenClock
from sqlalchemy import create_engine, select, text
from svc_totp_codes import code_for

from totpflow.server import crypto, errors, services
from totpflow.server.crypto import Cipher, HashPurpose
from totpflow.server.domain import ids, recovery, totp
from totpflow.server.domain.models import Project
from totpflow.server.storage import NewUser, RecoveryCodeRow, SigningKeyRow, Store, TotpRow, open_store
from totpflow.server.storage.migrate import alembic_config, head_revisions, upgrade
from totpflow.server.storage.schema import recovery_codes, signing_keys, totps

NOW = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)


@dataclasses.dataclass
class OldData:
    project: Project
    user_id: str
    totp_id: str
    secret: str
    codes: tuple[str, ...]
    kid: str


def _engine_url(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        return database_url
    return "postgresql+psycopg://" + database_url.split("://", 1)[1]


def _at_0002_with_data(database_url: str, cipher: Cipher) -> OldData:
    """A database at schema 0002 holding a project, a user with a verified TOTP and 10 recovery codes, and a
    signing key, all encrypted and hashed the way 0002's code did."""
    engine = create_engine(_engine_url(database_url))
    upgrade(engine, "0002")
    store = Store(engine)
    project = Project("project-test-old", "Old", NOW)
    user_id, totp_id, kid = ids.user_id(), ids.totp_id(), ids.jwk_id()
    secret, codes = totp.new_secret(), recovery.new_codes()
    key = crypto.generate_signing_key(kid, NOW)
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with store.transaction() as tx:
        tx.insert_project(project, cipher.keyed_hash(HashPurpose.PROJECT_SECRET, "x" * 40))
        tx.insert_user(
            project.project_id,
            NewUser(user_id, "active", NOW, None, {}, {}, None, ("stytch_user",), None, None),
        )
        tx.insert_totp(
            project.project_id,
            TotpRow(
                totp_id=totp_id,
                user_id=user_id,
                secret_enc=cipher.encrypt_text(secret, f"totp-secret:{totp_id}"),
                verified=True,
                created_at=NOW,
                expires_at=NOW + timedelta(days=1),
                last_used_step=None,
            ),
        )
        rows = []
        for code in codes:
            rid = ids.recovery_code_id()
            rows.append(
                RecoveryCodeRow(
                    recovery_code_id=rid,
                    totp_id=totp_id,
                    code_enc=cipher.encrypt_text(code, f"recovery-code:{rid}"),
                    code_hash=cipher.keyed_hash(HashPurpose.RECOVERY_CODE, f"{totp_id}:{code}"),
                    used_at=None,
                )
            )
        tx.insert_recovery_codes(project.project_id, rows)
        tx.insert_signing_key(
            project.project_id,
            1,
            SigningKeyRow(project.project_id, kid, cipher.encrypt(pem, f"signing-key:{kid}"), key.public_jwk),
            NOW,
        )
    engine.dispose()
    return OldData(project, user_id, totp_id, secret, codes, kid)


def _version(database_url: str) -> str:
    engine = create_engine(_engine_url(database_url))
    with engine.connect() as connection:
        version = str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar())
    engine.dispose()
    return version


def test_secrets_of_a_0002_database_are_rebound_and_keep_working(database_url: str) -> None:
    cipher = Cipher(secrets.token_bytes(32))
    old = _at_0002_with_data(database_url, cipher)
    store = open_store(database_url, cipher=cipher)
    try:
        assert _version(database_url) in head_revisions()
        with store.engine.connect() as connection:
            secret_enc = connection.execute(select(totps.c.secret_enc)).scalar_one()
            code_row = connection.execute(
                select(recovery_codes.c.recovery_code_id, recovery_codes.c.code_enc).limit(1)
            ).one()
            key_enc = connection.execute(select(signing_keys.c.private_key_enc)).scalar_one()
        with pytest.raises(InvalidTag):  # the old binding no longer opens the new ciphertext
            cipher.decrypt(bytes(secret_enc), f"totp-secret:{old.totp_id}")
        pid, uid, tid = old.project.project_id, old.user_id, old.totp_id
        assert cipher.decrypt_text(bytes(secret_enc), crypto.totp_secret_binding(pid, uid, tid)) == old.secret
        code_binding = crypto.recovery_code_binding(pid, uid, tid, code_row.recovery_code_id)
        assert cipher.decrypt_text(bytes(code_row.code_enc), code_binding) in old.codes
        assert crypto.decrypt_private_key(cipher, pid, old.kid, bytes(key_enc)) is not None
        clock = FrozenClock(NOW)
        deps = services.Deps(store=store, clock=clock, cipher=cipher)
        signed_in = services.authenticate_totp(
            deps, old.project, user_id=old.user_id, totp_code=code_for(old.secret, clock.now)
        )
        assert signed_in.user.user_id == old.user_id
        recovered = services.recover(deps, old.project, user_id=old.user_id, recovery_code=old.codes[3])
        assert recovered.user.user_id == old.user_id
        _, listed = services.get_recovery_codes(deps, old.project, user_id=old.user_id)
        assert set(listed[0].recovery_codes) == set(old.codes) - {old.codes[3]}
        assert [k["kid"] for k in services.get_jwks(deps, pid)] == [old.kid]
    finally:
        store.dispose()
    # The downgrade restores the old bindings (and 0003 applies again).
    engine = create_engine(_engine_url(database_url))
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes["cipher"] = cipher
        command.downgrade(config, "0002")
    with engine.connect() as connection:
        secret_enc = connection.execute(select(totps.c.secret_enc)).scalar_one()
    assert cipher.decrypt_text(bytes(secret_enc), f"totp-secret:{old.totp_id}") == old.secret
    engine.dispose()


@pytest.mark.parametrize("given", ["none", "another"])
def test_without_the_right_master_key_nothing_is_migrated(database_url: str, given: str) -> None:
    cipher = Cipher(secrets.token_bytes(32))
    old = _at_0002_with_data(database_url, cipher)
    engine = create_engine(_engine_url(database_url))
    with engine.connect() as connection:
        before = connection.execute(select(totps.c.secret_enc)).scalar_one()
    engine.dispose()
    wrong = None if given == "none" else Cipher(secrets.token_bytes(32))
    with pytest.raises(errors.MasterKeyError, match="master key") as info:
        open_store(database_url, cipher=wrong)
    assert old.secret not in str(info.value)
    assert _version(database_url) == "0002"
    engine = create_engine(_engine_url(database_url))
    with engine.connect() as connection:
        assert connection.execute(select(totps.c.secret_enc)).scalar_one() == before
    engine.dispose()


def test_an_empty_database_migrates_without_a_key(database_url: str) -> None:
    open_store(database_url).dispose()
    assert _version(database_url) in head_revisions()
