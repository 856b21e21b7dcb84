"""Per-project RSA signing keys: created on first use, rotated on demand, shared by every process through the
database.

Two processes that both find no key each generate one; the unique (project_id, generation) constraint lets
exactly one insert win (``ON CONFLICT DO NOTHING``) and both then use the stored key. Generation happens
outside any transaction because RSA key generation takes tens of milliseconds. Decrypted private keys are
cached per process by project and ``kid``: they never change once stored. Each private key is encrypted
under a binding to its project and ``kid``, and a stored public JWK is served only when it matches the
decrypted private key (``crypto.jwk_matches``); a key that fails either check is logged as an integrity
error and neither served nor used.

Rotation (``rotate_signing_key``, ``totpflow keys rotate``) inserts the next generation, which signs from then
on, and stamps the older keys ``superseded_at``. A superseded key stays in the JWKS, and keeps verifying
session JWTs here, until every JWT it signed has expired: the JWT lifetime (five minutes, stytch-api.md §3.3)
plus ``ROTATION_GRACE_SECONDS`` for requests that read the keys just before the rotation and signed just
after. Then it is retired: neither served nor trusted (a JWT past its ``exp`` signed with it no longer
authenticates a session; the session token still does).
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from totpflow.server import errors
from totpflow.server.crypto import (
    decrypt_private_key,
    encrypt_private_key,
    generate_signing_key,
    integrity_log,
    jwk_matches,
)
from totpflow.server.domain import ids
from totpflow.server.services.deps import Deps
from totpflow.server.storage import SigningKeyRow

ROTATION_GRACE_SECONDS: Final = 30
_ROTATION_ATTEMPTS: Final = 5


class ForeignMasterKey(Exception):
    """This process's master key does not decrypt the project's signing key: a key it stored would be
    unreadable to the servers, so it stores none."""


_cache_lock = threading.Lock()
_private_keys: dict[tuple[str, str], RSAPrivateKey] = {}
_served_jwks: dict[
    tuple[str, str], str
] = {}  # (project, kid) → the stored JWK (canonical JSON) found to match


def _rows(deps: Deps, project_id: str) -> list[SigningKeyRow]:
    retired_before = deps.now() - timedelta(seconds=deps.policy.jwt_lifetime_seconds + ROTATION_GRACE_SECONDS)
    with deps.store.transaction(readonly=True) as tx:
        if tx.get_project(project_id) is None:
            raise errors.ProjectNotFound("project_id")
        return tx.signing_keys(project_id, superseded_after=retired_before)


def _new_key(deps: Deps, project_id: str) -> SigningKeyRow:
    generated = generate_signing_key(ids.jwk_id(), deps.now(), deps.policy.rsa_key_size)
    return SigningKeyRow(
        project_id=project_id,
        kid=generated.kid,
        private_key_enc=encrypt_private_key(deps.cipher, project_id, generated),
        public_jwk=generated.public_jwk,
    )


def ensure_signing_keys(deps: Deps, project_id: str) -> list[SigningKeyRow]:
    """The project's live keys, the signing one first; creates the first one if there is none."""
    rows = _rows(deps, project_id)
    if rows:
        return rows
    row = _new_key(deps, project_id)
    with deps.store.transaction() as tx:
        tx.insert_signing_key(project_id, 1, row, deps.now())
    return _rows(deps, project_id)


def rotate_signing_key(deps: Deps, project_id: str) -> str:
    """Make a new key the project's signing key; returns its ``kid``. ``ProjectNotFound`` for an unknown id.

    The new generation is the highest stored plus one; when a concurrent rotation takes that number first the
    insert does nothing and the next number is tried, so concurrent rotations each add a generation.
    ``ForeignMasterKey`` when this process's master key is not the one the project's keys are stored under
    (checked by decrypting the current signing key)."""
    current = _rows(deps, project_id)
    if current:
        try:
            decrypt_private_key(deps.cipher, project_id, current[0].kid, current[0].private_key_enc)
        except errors.IntegrityFailure:
            raise ForeignMasterKey(project_id) from None
    row = _new_key(deps, project_id)
    for _ in range(_ROTATION_ATTEMPTS):
        now = deps.now()
        with deps.store.transaction() as tx:
            if tx.get_project(project_id) is None:
                raise errors.ProjectNotFound("project_id")
            generation = tx.latest_signing_generation(project_id) + 1
            if tx.insert_signing_key(project_id, generation, row, now):
                tx.supersede_signing_keys(project_id, generation, now)
                return row.kid
    raise errors.ServerError("signing key rotation kept colliding with concurrent rotations")


def private_key(deps: Deps, row: SigningKeyRow) -> RSAPrivateKey:
    """The row's decrypted private key; ``IntegrityFailure`` when it does not decrypt under its binding."""
    cache_key = (row.project_id, row.kid)
    with _cache_lock:
        cached = _private_keys.get(cache_key)
    if cached is not None:
        return cached
    key = decrypt_private_key(deps.cipher, row.project_id, row.kid, row.private_key_enc)
    with _cache_lock:
        _private_keys[cache_key] = key
    return key


def _verified_jwk(deps: Deps, row: SigningKeyRow) -> dict[str, Any] | None:
    """The row's stored public JWK if it is the public half of the row's private key, else None (logged)."""
    canonical = json.dumps(row.public_jwk, sort_keys=True)
    cache_key = (row.project_id, row.kid)
    with _cache_lock:
        if _served_jwks.get(cache_key) == canonical:
            return dict(row.public_jwk)
    try:
        matches = jwk_matches(private_key(deps, row), row.kid, dict(row.public_jwk))
    except errors.IntegrityFailure:
        return None  # logged by crypto.open_bound
    if not matches:
        integrity_log.error(
            "integrity error: the stored public key of signing key %s (project %s) is not the public half "
            "of its private key; it is not served",
            row.kid,
            row.project_id,
        )
        return None
    with _cache_lock:
        _served_jwks[cache_key] = canonical
    return dict(row.public_jwk)


def get_jwks(deps: Deps, project_id: str) -> list[dict[str, Any]]:
    """Public JWKs of the project's live signing keys, the signing one first (no authentication needed:
    stytch-api.md §4.12); a key whose stored public half does not match its private key is left out."""
    verified = (_verified_jwk(deps, row) for row in ensure_signing_keys(deps, project_id))
    return [jwk for jwk in verified if jwk is not None]
