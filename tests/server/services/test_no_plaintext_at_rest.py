"""After a full flow (recovery, sessions, a signing-key rotation), the database holds no TOTP secret,
recovery code, session token, project secret or private key in any recognisable form: SQLite's raw files
(main, -wal, -shm) are scanned byte for byte, and on PostgreSQL every row of every table is read back as
text."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from frozen_clock import FrozenClock
from sqlalchemy import inspect, text
from svc_totp_codes import code_for

from totpflow.server import services
from totpflow.server.dbfile import sqlite_path
from totpflow.server.domain import totp
from totpflow.server.services import keys


def _full_flow(deps: services.Deps, clock: FrozenClock) -> list[bytes]:
    project, project_secret = services.create_project(deps, name="Leak Check")
    user = services.create_user(deps, project, email="leak@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
    signed_in = services.authenticate_totp(
        deps,
        project,
        user_id=user.user_id,
        totp_code=code_for(created.secret, clock.now),
        session_duration_minutes=60,
    )
    services.recover(
        deps,
        project,
        user_id=user.user_id,
        recovery_code=created.recovery_codes[0],
        session_token=signed_in.session_token,
    )
    services.authenticate_session(deps, project, session_token=signed_in.session_token)
    services.rotate_signing_key(deps, project.project_id)  # two keys at rest: the new and the previous
    rows = keys.ensure_signing_keys(deps, project.project_id)
    assert len(rows) == 2
    pem_parts: list[bytes] = []
    for row in rows:
        pem = keys.private_key(deps, row).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        pem_body = b"".join(pem.splitlines()[1:-1])
        pem_parts += [pem_body[:64], pem_body[-64:]]
    secrets_ = [
        created.secret.encode(),
        totp.decode_secret(created.secret),
        signed_in.session_token.encode(),
        project_secret.encode(),
        b"PRIVATE KEY",
        *pem_parts,
        *(c.encode() for c in created.recovery_codes),
    ]
    return secrets_ + [s.hex().encode() for s in secrets_]


def test_nothing_secret_at_rest(deps: services.Deps, clock: FrozenClock, database_url: str) -> None:
    needles = _full_flow(deps, clock)
    path = sqlite_path(database_url)
    if path is not None:
        files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
        assert Path(f"{path}-wal") in files  # the WAL is where fresh writes sit: it must be scanned too
        blobs = [p.read_bytes() for p in files]
    else:
        with deps.store.engine.connect() as connection:
            tables = inspect(connection).get_table_names()
            blobs = [
                "\n".join(
                    str(r[0]) for r in connection.execute(text(f'SELECT t::text FROM "{name}" t'))
                ).encode()
                for name in tables
            ]
    joined = b"\n".join(blobs)
    assert b"leak@example.com" in joined  # positive control: the scan does see stored plaintext
    leaked = [needle for needle in needles if needle in joined]
    assert leaked == []
