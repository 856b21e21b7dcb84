"""Per-project RSA signing keys: created on first use, shared by every process through the database.

Two processes that both find no key each generate one; the unique (project_id, generation) constraint lets
exactly one insert win (``ON CONFLICT DO NOTHING``) and both then use the stored key. Generation happens
outside any transaction because RSA key generation takes tens of milliseconds. Decrypted private keys are
cached per process by ``kid``: they never change once stored.
"""

from __future__ import annotations

import threading
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from totpflow.server import errors
from totpflow.server.crypto import decrypt_private_key, encrypt_private_key, generate_signing_key
from totpflow.server.domain import ids
from totpflow.server.services.deps import Deps
from totpflow.server.storage import SigningKeyRow

_cache_lock = threading.Lock()
_private_keys: dict[str, RSAPrivateKey] = {}


def _rows(deps: Deps, project_id: str) -> list[SigningKeyRow]:
    with deps.store.transaction(readonly=True) as tx:
        if tx.get_project(project_id) is None:
            raise errors.ProjectNotFound("project_id")
        return tx.signing_keys(project_id)


def ensure_signing_keys(deps: Deps, project_id: str) -> list[SigningKeyRow]:
    """The project's active keys, newest first; creates the first one if there is none."""
    rows = _rows(deps, project_id)
    if rows:
        return rows
    now = deps.now()
    generated = generate_signing_key(ids.jwk_id(), now)
    row = SigningKeyRow(generated.kid, encrypt_private_key(deps.cipher, generated), generated.public_jwk)
    with deps.store.transaction() as tx:
        tx.insert_signing_key(project_id, 1, row, now)
    return _rows(deps, project_id)


def private_key(deps: Deps, row: SigningKeyRow) -> RSAPrivateKey:
    with _cache_lock:
        cached = _private_keys.get(row.kid)
    if cached is not None:
        return cached
    key = decrypt_private_key(deps.cipher, row.kid, row.private_key_enc)
    with _cache_lock:
        _private_keys[row.kid] = key
    return key


def get_jwks(deps: Deps, project_id: str) -> list[dict[str, Any]]:
    """Public JWKs of the project's signing keys (no authentication needed: stytch-api.md §4.12)."""
    return [dict(row.public_jwk) for row in ensure_signing_keys(deps, project_id)]
