"""A request's project credentials, confirmed inside the request's own first transaction.

The HTTP layer checks the Basic credentials before it reads a body: against the project row this process
remembers (``projects.remembered_project``, no I/O) or, when it remembers none that matches, against the
database (``projects.authenticate_project``, a transaction of its own). Either way the request then runs
under :func:`run_as`, which confirms the credentials in the first transaction the request opens, before any
of its statements: one statement (``Tx.project_state``) reads the project's row and the highest generation
of its signing keys; the secret's HMAC is compared with the stored one (and this process's secret) in
constant time. So the memory is only a hint and there is no window in which a reset secret still works: a
request that starts after ``totpflow project reset-secret`` (or a reset in another worker) commits gets
``unauthorized_credentials``, on SQLite and PostgreSQL alike. A request whose work opened no transaction (it
failed validation first) is confirmed in a transaction of its own before it answers. A project renamed by
another process is seen the same way: the request is run again with the row just read (its first
transaction had done nothing yet).

The key generation read by the same statement tells ``services.keys`` whether its remembered signing keys
are still the project's: a rollover in another process is used by the next JWT signed here.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec, TypeVar

from totpflow.server import errors
from totpflow.server.crypto import HashPurpose
from totpflow.server.domain.models import Project
from totpflow.server.services import keys, projects
from totpflow.server.services.deps import Deps
from totpflow.server.storage.protocol import Transaction, WouldWait

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Credential:
    """The project a request's Basic credentials were found to name, and the HMAC of the secret given."""

    project: Project
    secret_hash: bytes


class _ProjectChanged(Exception):
    def __init__(self, project: Project) -> None:
        super().__init__(project.project_id)
        self.project = project


def remembered_credential(deps: Deps, project_id: str, secret: str) -> Credential | None:
    """No I/O: the credential when it matches what this process remembers of the project; else None."""
    project = projects.remembered_project(deps, project_id, secret)
    if project is None:
        return None
    return Credential(project, deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret))


def authenticate_credential(deps: Deps, project_id: str, secret: str) -> Credential:
    """Checked against the database in a transaction of its own; ``UnauthorizedCredentials``."""
    project = projects.authenticate_project(deps, project_id, secret)
    return Credential(project, deps.cipher.keyed_hash(HashPurpose.PROJECT_SECRET, secret))


def _confirm(deps: Deps, credential: Credential, tx: Transaction) -> None:
    project_id = credential.project.project_id
    state = tx.project_state(project_id)
    stored = state.secret_hash if state is not None else bytes(32)
    given = credential.secret_hash
    matches = hmac.compare_digest(given, stored) | hmac.compare_digest(
        given, projects.issued_hash(deps.store, project_id)
    )
    if state is None or not matches:
        projects.forget(deps.store, project_id)  # the next request with this id reads the project again
        raise errors.UnauthorizedCredentials("credentials")
    if state.name != credential.project.name:
        row = tx.get_project(project_id)
        assert row is not None  # read in this transaction a statement ago
        projects.learn(deps.store, row)
        raise _ProjectChanged(row.project)
    keys.confirm_key_generation(deps, tx, project_id, state.key_generation)


def run_as(
    deps: Deps,
    credential: Credential,
    service: Callable[Concatenate[Deps, Project, P], R],
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """``service(deps, project, *args, **kwargs)`` with the credential confirmed in its first transaction (or,
    when it opened none, in one of its own before it returns or raises)."""
    project = credential.project
    for _ in range(2):
        current = Credential(project, credential.secret_hash)
        with (
            keys.request_scope(),
            deps.store.first_transaction_check(functools.partial(_confirm, deps, current)),
        ):
            try:
                result = service(deps, project, *args, **kwargs)
            except _ProjectChanged as changed:
                project = changed.project
                continue
            except WouldWait:  # nothing was written: the call is made again in a thread, which confirms
                raise
            except BaseException:
                _confirm_now(deps)
                raise
            _confirm_now(deps)
            return result
    raise errors.UnauthorizedCredentials("credentials")  # renamed twice while it ran: refused, not guessed


def _confirm_now(deps: Deps) -> None:
    """Confirm in a read-only transaction of its own when the service opened none (it read nothing, so a
    renamed project changes nothing it did)."""
    if deps.store.check_pending():
        try:
            with deps.store.transaction(readonly=True):
                pass
        except _ProjectChanged:
            pass


def confirm(deps: Deps, credential: Credential) -> None:
    """Confirm the credential in a transaction of its own (for a request that failed before its service
    ran); ``UnauthorizedCredentials``."""
    run_as(deps, credential, _nothing)


def _nothing(_deps: Deps, _project: Project) -> None:
    return None
