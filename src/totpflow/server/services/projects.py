"""Projects: the tenants of the server, authenticated by HTTP Basic ``project_id:secret`` (stytch-api.md
§2.2).

The secret is stored only as an HMAC under the project-secret subkey and compared in constant time. An unknown
project id costs the same hash and comparison as a wrong secret, so response time does not tell them apart.

Every API request authenticates its project, so a successful check is remembered per process and store for
``VERIFIED_TTL_SECONDS``: the project and the HMAC of the secret that matched, compared in constant time
again on each hit (a read-only transaction saved per request; about 0.13 ms of a 3 ms enrollment request on
SQLite). Failures are never remembered, so an attacker can neither fill the memory nor skip the database
check. ``create_project``, ``ensure_project`` and ``reset_project_secret`` forget the project at once in
their process; a secret changed by another process (``totpflow project reset-secret``) stops working here
within ``VERIFIED_TTL_SECONDS``.

A store's *default project* is the one ``totpflow enroll`` (embedded server), ``totpflow serve`` and the
operator commands use when none is named: ``create_first_project`` creates it when the store has none (once,
even when several processes start at the same moment) and returns its secret, which the creating command
shows once. An in-process caller that never saw that secret (the embedded server of ``enroll``) talks to its
own server with ``issue_process_secret``: a secret held only in this process's memory, valid for one
project of one ``Store`` until ``withdraw_process_secret``.
"""

from __future__ import annotations

import hmac
import threading
import time
from typing import Final, NamedTuple
from weakref import WeakKeyDictionary

from totpflow.server import errors
from totpflow.server.crypto import HashPurpose
from totpflow.server.domain import ids
from totpflow.server.domain.models import Project
from totpflow.server.services.deps import Deps
from totpflow.server.storage.protocol import Storage

_UNKNOWN_PROJECT_HASH = bytes(32)
VERIFIED_TTL_SECONDS: Final = 5.0


class _Verified(NamedTuple):
    secret_hash: bytes
    project: Project
    until: float  # time.monotonic()


_verified_lock = threading.Lock()
_verified: WeakKeyDictionary[Storage, dict[str, _Verified]] = WeakKeyDictionary()
_forgotten = [0]  # how many times a project was forgotten: a check that read before one does not remember
_process_secrets: WeakKeyDictionary[Storage, dict[str, bytes]] = WeakKeyDictionary()


def _forget(store: Storage, project_id: str) -> None:
    with _verified_lock:
        _verified.get(store, {}).pop(project_id, None)
        _forgotten[0] += 1


def create_project(
    deps: Deps, *, name: str = "totpflow", project_id: str | None = None, secret: str | None = None
) -> tuple[Project, str]:
    """Create a project; returns it with its secret, which is not stored and cannot be shown again."""
    project = Project(project_id or ids.project_id(), name, deps.now())
    secret = secret or ids.project_secret()
    with deps.store.transaction() as tx:
        if not tx.insert_project(project, deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret)):
            raise errors.InvalidArgument("project_id", "a project with this id already exists")
    _forget(deps.store, project.project_id)
    return project, secret


def ensure_project(deps: Deps, *, project_id: str, secret: str, name: str = "totpflow") -> Project:
    """Create the project if absent, else set its name and secret. Safe to run from several processes at
    once."""
    if not secret:
        raise errors.InvalidArgument("secret", "must not be empty")
    secret_hash = deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret)
    with deps.store.transaction() as tx:
        if not tx.insert_project(Project(project_id, name, deps.now()), secret_hash):
            tx.update_project(project_id, name=name, secret_hash=secret_hash)
        row = tx.get_project(project_id)
    assert row is not None
    _forget(deps.store, project_id)
    return row.project


def reset_project_secret(deps: Deps, project_id: str) -> str:
    """Give the project a new secret and return it (it is not stored and cannot be shown again); the old
    one stops working (in other processes within ``VERIFIED_TTL_SECONDS``). ``ProjectNotFound``."""
    secret = ids.project_secret()
    secret_hash = deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret)
    with deps.store.transaction() as tx:
        row = tx.get_project(project_id)
        if row is None:
            raise errors.ProjectNotFound("project_id")
        tx.update_project(project_id, name=row.project.name, secret_hash=secret_hash)
    _forget(deps.store, project_id)
    return secret


def create_first_project(deps: Deps, *, name: str = "totpflow") -> tuple[Project, str] | None:
    """Create the store's default project when the store has no project at all and return it with its
    secret (shown once by the caller); None when a project exists. Of processes starting on an empty store
    at the same moment exactly one creates it: the check and the insert hold the store's project-creation
    lock (SQLite's write lock; a transaction-scoped advisory lock on PostgreSQL)."""
    project = Project(ids.project_id(), name, deps.now())
    secret = ids.project_secret()
    with deps.store.transaction() as tx:
        tx.lock_project_creation()
        if tx.any_project():
            return None
        tx.insert_project(project, deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret))
    _forget(deps.store, project.project_id)
    return project, secret


def issue_process_secret(deps: Deps, project_id: str) -> str:
    """A new secret for ``project_id`` that only this process's server over ``deps.store`` accepts (beside
    the stored one), until ``withdraw_process_secret``; nothing is written to the database."""
    secret = ids.project_secret()
    with _verified_lock:
        _process_secrets.setdefault(deps.store, {})[project_id] = deps.cipher.keyed_hash(
            HashPurpose.PROJECT_SECRET, secret
        )
    return secret


def withdraw_process_secret(deps: Deps, project_id: str) -> None:
    with _verified_lock:
        _process_secrets.get(deps.store, {}).pop(project_id, None)
    _forget(deps.store, project_id)


def remembered_project(deps: Deps, project_id: str, secret: str) -> Project | None:
    """The project, when this process verified these credentials within ``VERIFIED_TTL_SECONDS``; else None.
    No I/O (a keyed hash and a dictionary look-up), so the HTTP layer calls it on the event loop."""
    given = deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret)
    with _verified_lock:
        known = _verified.get(deps.store, {}).get(project_id)
    if known is not None and known.until > time.monotonic() and hmac.compare_digest(given, known.secret_hash):
        return known.project
    return None


def authenticate_project(deps: Deps, project_id: str, secret: str) -> Project:
    """The project whose id and secret these are; ``UnauthorizedCredentials`` otherwise."""
    given = deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret)
    with _verified_lock:
        known = _verified.get(deps.store, {}).get(project_id)
        issued = _process_secrets.get(deps.store, {}).get(project_id, _UNKNOWN_PROJECT_HASH)
        forgotten = _forgotten[0]
    if known is not None and known.until > time.monotonic() and hmac.compare_digest(given, known.secret_hash):
        return known.project
    with deps.store.transaction(readonly=True) as tx:
        row = tx.get_project(project_id)
    stored = row.secret_hash if row is not None else _UNKNOWN_PROJECT_HASH
    matches = hmac.compare_digest(given, stored) | hmac.compare_digest(given, issued)
    if not matches or row is None:
        raise errors.UnauthorizedCredentials("credentials")
    with _verified_lock:
        if _forgotten[0] == forgotten:
            _verified.setdefault(deps.store, {})[project_id] = _Verified(
                given, row.project, time.monotonic() + VERIFIED_TTL_SECONDS
            )
    return row.project


def any_project_exists(deps: Deps) -> bool:
    with deps.store.transaction(readonly=True) as tx:
        return tx.any_project()


def list_project_ids(deps: Deps, limit: int) -> list[str]:
    """Up to ``limit`` project ids, oldest first (for command-line tools that default to the only project)."""
    with deps.store.transaction(readonly=True) as tx:
        return tx.project_ids(limit)
