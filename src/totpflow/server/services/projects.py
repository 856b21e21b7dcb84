"""Projects: the tenants of the server, authenticated by HTTP Basic ``project_id:secret`` (stytch-api.md
§2.2).

The secret is stored only as an HMAC under the project-secret subkey and compared in constant time. An unknown
project id costs the same hash and comparison as a wrong secret, so response time does not tell them apart.

Every API request authenticates its project, so each process remembers, per store, the project row it last
read (its name and the HMAC of its secret): a request whose secret's HMAC equals the remembered one
(constant time) goes on without a transaction of its own, and ``services.credentials`` confirms the
remembered row in the request's first transaction, before any of its statements. That memory is a hint,
never the authority: a secret reset by any process (``totpflow project reset-secret``) is refused by the
next request that starts after the reset commits, in every process. Failures are never remembered.

A store's *default project* is the one ``totpflow enroll`` (embedded server), ``totpflow serve`` and the
operator commands use when none is named: ``create_first_project`` creates it when the store has none (once,
even when several processes start at the same moment) and returns its secret, which the creating command
shows once. An in-process caller that never saw that secret (the embedded server of ``enroll``) talks to its
own server with ``issue_process_secret``: a secret held only in this process's memory, valid for one
project of one ``Storage`` until ``withdraw_process_secret``.
"""

from __future__ import annotations

import hmac
import threading
from weakref import WeakKeyDictionary

from totpflow.server import errors
from totpflow.server.crypto import HashPurpose
from totpflow.server.domain import ids
from totpflow.server.domain.models import Project
from totpflow.server.services import validation
from totpflow.server.services.deps import Deps
from totpflow.server.services.master_key import verify_in
from totpflow.server.storage.protocol import Storage
from totpflow.server.storage.records import ProjectRow

_UNKNOWN_PROJECT_HASH = bytes(32)

_known_lock = threading.Lock()
_known: WeakKeyDictionary[Storage, dict[str, ProjectRow]] = WeakKeyDictionary()
_process_secrets: WeakKeyDictionary[Storage, dict[str, bytes]] = WeakKeyDictionary()


def learn(store: Storage, row: ProjectRow) -> None:
    """Remember ``row`` as the project's latest read from ``store`` (only rows read from the database)."""
    with _known_lock:
        _known.setdefault(store, {})[row.project.project_id] = row


def known(store: Storage, project_id: str) -> ProjectRow | None:
    with _known_lock:
        return _known.get(store, {}).get(project_id)


def issued_hash(store: Storage, project_id: str) -> bytes:
    """The HMAC of this process's secret for the project (``issue_process_secret``), else a value no secret
    hashes to."""
    with _known_lock:
        return _process_secrets.get(store, {}).get(project_id, _UNKNOWN_PROJECT_HASH)


def forget(store: Storage, project_id: str) -> None:
    with _known_lock:
        _known.get(store, {}).pop(project_id, None)


def create_project(
    deps: Deps, *, name: str = "totpflow", project_id: str | None = None, secret: str | None = None
) -> tuple[Project, str]:
    """Create a project; returns it with its secret, which is not stored and cannot be shown again."""
    project = Project(project_id or ids.project_id(), validation.project_name(name), deps.now())
    secret = secret or ids.project_secret()
    with deps.store.transaction() as tx:
        verify_in(tx, deps)
        if not tx.insert_project(project, deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret)):
            raise errors.InvalidArgument("project_id", "a project with this id already exists")
    forget(deps.store, project.project_id)
    return project, secret


def ensure_project(deps: Deps, *, project_id: str, secret: str, name: str = "totpflow") -> Project:
    """Create the project if absent, else set its name and secret. Safe to run from several processes at
    once."""
    validation.project_id(project_id)
    validation.project_name(name)
    if not secret:
        raise errors.InvalidArgument("secret", "must not be empty")
    secret_hash = deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret)
    with deps.store.transaction() as tx:
        verify_in(tx, deps)
        if not tx.insert_project(Project(project_id, name, deps.now()), secret_hash):
            tx.update_project(project_id, name=name, secret_hash=secret_hash)
        row = tx.get_project(project_id)
    assert row is not None
    forget(deps.store, project_id)
    return row.project


def reset_project_secret(deps: Deps, project_id: str) -> str:
    """Give the project a new secret and return it (it is not stored and cannot be shown again); the old
    one stops working for every request that starts after this returns, in every process.
    ``ProjectNotFound``."""
    secret = ids.project_secret()
    secret_hash = deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret)
    with deps.store.transaction() as tx:
        row = tx.get_project(project_id)
        if row is None:
            raise errors.ProjectNotFound("project_id")
        verify_in(tx, deps)
        tx.update_project(project_id, name=row.project.name, secret_hash=secret_hash)
    forget(deps.store, project_id)
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
        verify_in(tx, deps)
        tx.insert_project(project, deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret))
    forget(deps.store, project.project_id)
    return project, secret


def issue_process_secret(deps: Deps, project_id: str) -> str:
    """A new secret for ``project_id`` that only this process's server over ``deps.store`` accepts (beside
    the stored one), until ``withdraw_process_secret``; nothing is written to the database."""
    secret = ids.project_secret()
    with _known_lock:
        _process_secrets.setdefault(deps.store, {})[project_id] = deps.cipher.keyed_hash(
            HashPurpose.PROJECT_SECRET, secret
        )
    return secret


def withdraw_process_secret(deps: Deps, project_id: str) -> None:
    with _known_lock:
        _process_secrets.get(deps.store, {}).pop(project_id, None)
    forget(deps.store, project_id)


def remembered_project(deps: Deps, project_id: str, secret: str) -> Project | None:
    """The project, when ``secret`` is the secret of the project row this process last read (or its process
    secret); else None. No I/O (a keyed hash and a dictionary look-up), so the HTTP layer calls it on the
    event loop. A hint only: the caller confirms it in the request's first transaction
    (``services.credentials``)."""
    given = deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret)
    row = known(deps.store, project_id)
    if row is None:
        return None
    matches = hmac.compare_digest(given, row.secret_hash) | hmac.compare_digest(
        given, issued_hash(deps.store, project_id)
    )
    return row.project if matches else None


def authenticate_project(deps: Deps, project_id: str, secret: str) -> Project:
    """The project whose id and secret these are, read in a transaction of its own (and remembered);
    ``UnauthorizedCredentials`` otherwise."""
    given = deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret)
    with deps.store.transaction(readonly=True) as tx:
        row = tx.get_project(project_id)
    stored = row.secret_hash if row is not None else _UNKNOWN_PROJECT_HASH
    matches = hmac.compare_digest(given, stored) | hmac.compare_digest(
        given, issued_hash(deps.store, project_id)
    )
    if row is not None:
        learn(deps.store, row)
    if not matches or row is None:
        raise errors.UnauthorizedCredentials("credentials")
    return row.project


def any_project_exists(deps: Deps) -> bool:
    with deps.store.transaction(readonly=True) as tx:
        return tx.any_project()


def list_project_ids(deps: Deps, limit: int) -> list[str]:
    """Up to ``limit`` project ids, oldest first (for command-line tools that default to the only project)."""
    with deps.store.transaction(readonly=True) as tx:
        return tx.project_ids(limit)
