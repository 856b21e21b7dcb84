"""Per-project RSA signing keys: created on first use, rotated on demand, shared by every process through the
database.

Two processes that both find no key each generate one; the unique (project_id, generation) constraint lets
exactly one insert win (``ON CONFLICT DO NOTHING``) and both then use the stored key. Generation happens
outside any transaction because RSA key generation takes tens of milliseconds. Decrypted private keys are
cached per process by project and ``kid``: they never change once stored. Each private key is encrypted
under a binding to its project and ``kid``, and a stored public JWK is served only when it matches the
decrypted private key (``crypto.jwk_matches``); a key that fails either check is logged as an integrity
error and neither served nor used.

Rollover (``rotate_signing_key``, ``totpflow keys rotate``) inserts the next generation and stamps the older
keys ``superseded_at`` = the moment the new key takes over signing, ``Policy.key_publication_delay`` ahead
(an hour by default; now for an emergency rotation). Until then the new key is published in the JWKS but
does not sign, so every JWKS cache that refreshes within the delay knows it before the first JWT it signs
(stytch-rbac-users-sessions.md §5). The signing key is the oldest generation not yet superseded. A retired
key keeps verifying session JWTs here for ``Policy.key_retention`` (30 days, as Stytch keeps its keys for a
month): an expired JWT of a session still active is accepted (stytch-api.md §4.7), whichever key signed it
(:func:`session_keys`). The JWKS publishes fewer (:func:`live_keys`). Outside a rollover it holds at most two
keys, the signing one and the one it replaced, that is the last key that signed before it (a key
superseded the moment it would have begun signing, by a second rotation right after the first, replaced
nothing and signed no JWT): any other retired key leaves the JWKS once the JWTs it signed have expired (the
JWT lifetime plus ``ROTATION_GRACE_SECONDS`` for requests that read the keys just before a switch and signed
just after), as a client verifying locally refuses an expired JWT anyway. During a rollover the next key is
published too.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from weakref import WeakKeyDictionary

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from totpflow.server import errors, suspend
from totpflow.server.crypto import (
    decrypt_private_key,
    encrypt_private_key,
    generate_signing_key,
    integrity_log,
    jwk_matches,
)
from totpflow.server.domain import ids
from totpflow.server.policy import Policy
from totpflow.server.services.deps import Deps
from totpflow.server.services.projects import list_project_ids
from totpflow.server.storage.protocol import Storage, Transaction
from totpflow.server.storage.records import SigningKeyRow

ROTATION_GRACE_SECONDS: Final = 30
# Which of a project's kept keys (not retired beyond ``key_retention``) a caller uses, at a time, by a policy.
KeySelection = Callable[[list[SigningKeyRow], datetime, Policy], list[SigningKeyRow]]
_ROTATION_ATTEMPTS: Final = 5
MAX_PROJECTS_ROTATED: Final = 100_000


_cache_lock = threading.Lock()
_private_keys: dict[tuple[str, str], RSAPrivateKey] = {}
_served_jwks: dict[
    tuple[str, str], str
] = {}  # (project, kid) → the stored JWK (canonical JSON) found to match


@dataclass(frozen=True, slots=True)
class _KeySet:
    generation: int  # the project's highest key generation when ``rows`` were read
    rows: tuple[SigningKeyRow, ...]  # its keys kept then (not retired beyond ``key_retention``)


_key_sets: WeakKeyDictionary[Storage, dict[str, _KeySet]] = WeakKeyDictionary()
# The key set the current request's first transaction found current: (store, project id, set).
_confirmed: ContextVar[tuple[Storage, str, _KeySet] | None] = ContextVar("totpflow_keys", default=None)


@dataclass(frozen=True, slots=True)
class Rotation:
    """A started rollover: ``kid`` is published now and signs from ``signs_from``."""

    kid: str
    signs_from: datetime
    replaces: str | None  # the kid that signs until then


def live_keys(rows: list[SigningKeyRow], now: datetime, policy: Policy) -> list[SigningKeyRow]:
    """Of a project's kept keys (not retired beyond ``key_retention``), those published at ``now``: the
    signing key first, then the keys waiting to sign, then the retired keys still published."""
    if not rows:
        return []
    ordered = sorted(rows, key=lambda r: r.generation)
    at = next(
        (i for i, r in enumerate(ordered) if r.superseded_at is None or r.superseded_at > now),
        len(ordered) - 1,
    )
    in_flight = now - timedelta(seconds=policy.jwt_lifetime_seconds + ROTATION_GRACE_SECONDS)
    replaced = next((i for i in range(at - 1, -1, -1) if _signed(ordered, i)), None)
    retired = [
        r
        for i, r in enumerate(ordered[:at])
        if i == replaced or (r.superseded_at is not None and r.superseded_at > in_flight)
    ]
    return [ordered[at], *ordered[at + 1 :], *reversed(retired)]


def session_keys(rows: list[SigningKeyRow], now: datetime, policy: Policy) -> list[SigningKeyRow]:
    """Of a project's kept keys, those a session request uses: the published ones of :func:`live_keys`, the
    signing key first, then every other kept key, newest first, for the expired JWTs they signed."""
    published = live_keys(rows, now, policy)
    kids = {r.kid for r in published}
    unpublished = sorted((r for r in rows if r.kid not in kids), key=lambda r: r.generation, reverse=True)
    return [*published, *unpublished]


def _signed(ordered: list[SigningKeyRow], i: int) -> bool:
    """Whether key ``i`` (by generation) ever signed: it took over when the key before it was superseded,
    and a key superseded by then (two rotations at once, or one during a rollover) never did."""
    end = ordered[i].superseded_at
    start = ordered[i - 1].superseded_at if i > 0 else None
    return start is None or end is None or end > start


def _rows(deps: Deps, project_id: str, select: KeySelection = live_keys) -> list[SigningKeyRow]:
    now = deps.now()
    with deps.store.transaction(readonly=True) as tx:
        if tx.get_project(project_id) is None:
            raise errors.ProjectNotFound("project_id")
        kept = tx.signing_keys(project_id, superseded_after=now - deps.policy.key_retention)
    return select(kept, now, deps.policy)


def _new_key(deps: Deps, project_id: str) -> SigningKeyRow:
    """A new signing key, encrypted; generated in a helper thread when the call runs on the event loop (tens
    of milliseconds of CPU, which OpenSSL spends without the GIL)."""
    kid, now, size = ids.jwk_id(), deps.now(), deps.policy.rsa_key_size
    generated = suspend.offload(lambda: generate_signing_key(kid, now, size))
    return SigningKeyRow(
        project_id=project_id,
        kid=generated.kid,
        private_key_enc=encrypt_private_key(deps.cipher, project_id, generated),
        public_jwk=generated.public_jwk,
    )


@contextmanager
def request_scope() -> Iterator[None]:
    """The span of one request: what :func:`confirm_key_generation` finds holds within it only."""
    token = _confirmed.set(None)
    try:
        yield
    finally:
        _confirmed.reset(token)


def confirm_key_generation(deps: Deps, tx: Transaction, project_id: str, generation: int) -> None:
    """In a request's first transaction: ``generation`` is the project's highest key generation just read.
    The remembered key set is used for this request when it has that generation, else it is read again
    here. No key yet (0): :func:`ensure_signing_keys` creates one."""
    if generation == 0:
        return
    with _cache_lock:
        known = _key_sets.get(deps.store, {}).get(project_id)
    if known is None or known.generation != generation:
        rows = tx.signing_keys(project_id, superseded_after=deps.now() - deps.policy.key_retention)
        if not rows:
            return
        known = _KeySet(max(r.generation for r in rows), tuple(rows))
        with _cache_lock:
            _key_sets.setdefault(deps.store, {})[project_id] = known
    _confirmed.set((deps.store, project_id, known))


def confirmable(deps: Deps, project_id: str) -> bool:
    """Whether the current request can take the project's keys from the set its first transaction confirms
    (inside a request, and this process remembers a key set of the project), with no I/O of its own."""
    if _confirmed.get() is None and not deps.store.check_pending():
        return False
    with _cache_lock:
        return project_id in _key_sets.get(deps.store, {})


def confirmed_keys(deps: Deps, project_id: str, select: KeySelection = live_keys) -> list[SigningKeyRow]:
    """The keys ``select`` takes of the set the current request confirmed (the published ones by default);
    [] outside a request or when it found none."""
    if _confirmed.get() is None and deps.store.check_pending():
        with deps.store.transaction(readonly=True):
            pass  # the request's first transaction: its check confirms the key generation
    confirmed = _confirmed.get()
    if confirmed is None or confirmed[0] is not deps.store or confirmed[1] != project_id:
        return []
    now = deps.now()
    retired_before = now - deps.policy.key_retention
    kept = [r for r in confirmed[2].rows if r.superseded_at is None or r.superseded_at > retired_before]
    return select(kept, now, deps.policy)


def ensure_signing_keys(deps: Deps, project_id: str, select: KeySelection = live_keys) -> list[SigningKeyRow]:
    """The project's keys ``select`` takes (the published ones by default; :func:`session_keys` for a session
    request), the signing one first; creates the first one if there is none."""
    rows = confirmed_keys(deps, project_id, select)
    if rows:
        return rows
    rows = _rows(deps, project_id, select)
    if rows:
        return rows
    row = _new_key(deps, project_id)
    with deps.store.transaction() as tx:
        tx.insert_signing_key(project_id, 1, row, deps.now())
    return _rows(deps, project_id, select)


def rotate_signing_key(deps: Deps, project_id: str, *, publish_for: timedelta | None = None) -> Rotation:
    """Start a rollover to a new key: published now, signing ``publish_for`` from now (default
    ``Policy.key_publication_delay``; zero for an emergency, when it signs at once). ``ProjectNotFound`` for
    an unknown id; ``RotationPending`` while an earlier rollover's key is still waiting to sign (an
    immediate rotation supersedes that one too).

    The new generation is the highest stored plus one; when a concurrent rotation takes that number first the
    insert does nothing and the next number is tried. ``ForeignMasterKey`` when this process's master key is
    not the one the project's keys are stored under (checked by decrypting the current signing key)."""
    delay = deps.policy.key_publication_delay if publish_for is None else publish_for
    current = _rows(deps, project_id)
    if current:
        try:
            decrypt_private_key(deps.cipher, project_id, current[0].kid, current[0].private_key_enc)
        except errors.IntegrityFailure:
            raise errors.ForeignMasterKey(project_id) from None
    row = _new_key(deps, project_id)
    for _ in range(_ROTATION_ATTEMPTS):
        now = deps.now()
        signs_from = now + delay
        with deps.store.transaction() as tx:
            if tx.get_project(project_id) is None:
                raise errors.ProjectNotFound("project_id")
            published = live_keys(
                tx.signing_keys(project_id, superseded_after=now - deps.policy.key_retention),
                now,
                deps.policy,
            )
            signing = published[0] if published else None
            waiting = [r for r in published if signing is not None and r.generation > signing.generation]
            if waiting and delay > timedelta(0):
                pending = waiting[-1]
                assert signing is not None and signing.superseded_at is not None
                raise errors.RotationPending(pending.kid, signing.superseded_at)
            generation = tx.latest_signing_generation(project_id) + 1
            if tx.insert_signing_key(project_id, generation, row, now):
                tx.supersede_signing_keys(project_id, generation, signs_from)
                return Rotation(row.kid, signs_from, None if signing is None else signing.kid)
    raise errors.ServerError("signing key rotation kept colliding with concurrent rotations")


def rotate_due_keys(deps: Deps, every: timedelta) -> list[Rotation]:
    """``serve --rotate-keys-every``: start a rollover (with the default publication delay) for each project
    whose newest key was published ``every`` ago or longer. Every worker process runs this; the database
    decides (a rollover already under way is ``RotationPending``), so each due project rolls over once."""
    started: list[Rotation] = []
    for project_id in list_project_ids(deps, MAX_PROJECTS_ROTATED):
        now = deps.now()
        with deps.store.transaction(readonly=True) as tx:
            rows = tx.signing_keys(project_id)
        newest = max(rows, key=lambda r: r.generation, default=None)
        if newest is None or newest.created_at is None or now - newest.created_at < every:
            continue
        try:
            started.append(rotate_signing_key(deps, project_id))
        except (errors.RotationPending, errors.ProjectNotFound):
            continue
    return started


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
