"""What the services need of a store: the named queries of one transaction (``Transaction``) and the store
that opens transactions (``Storage``). ``totpflow.server.storage.store`` implements both (``Tx``, ``Store``);
services depend on these protocols and the records only, never on SQLAlchemy.

Every query takes the calling project's id and filters on it, except the operator queries, which read
across projects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, TypeVar

from totpflow.server.domain.models import AuthenticationFactor, Project, Session, User
from totpflow.server.storage.records import (
    EncryptedSample,
    Hit,
    NewUser,
    ProjectRow,
    ProjectState,
    ProjectSummary,
    RecoveryCodeRow,
    SearchFilter,
    SessionRow,
    SigningKeyRow,
    TotpRow,
    UserChanges,
    UserHit,
    UserSummary,
)

T = TypeVar("T")


class WouldWait(Exception):
    """From ``Storage.run_on_loop``: this store cannot run calls on the event loop (PostgreSQL). Nothing was
    run; run the call in a thread."""


class Transaction(Protocol):
    """The queries of one database transaction (see the implementing methods for what each does)."""

    # Projects, their signing keys and RBAC policy
    def insert_project(self, project: Project, secret_hash: bytes) -> bool: ...
    def update_project(self, project_id: str, *, name: str, secret_hash: bytes) -> None: ...
    def get_project(self, project_id: str) -> ProjectRow | None: ...
    def project_state(self, project_id: str) -> ProjectState | None: ...
    def any_project(self) -> bool: ...
    def project_ids(self, limit: int) -> list[str]: ...
    def signing_keys(
        self, project_id: str, *, superseded_after: datetime | None = None
    ) -> list[SigningKeyRow]: ...
    def latest_signing_generation(self, project_id: str) -> int: ...
    def supersede_signing_keys(self, project_id: str, below_generation: int, at: datetime) -> None: ...
    def insert_signing_key(
        self, project_id: str, generation: int, key: SigningKeyRow, created_at: datetime
    ) -> bool: ...
    def rbac_policy(self, project_id: str) -> Any | None: ...

    # The store's master-key check
    def master_key_check(self) -> bytes | None: ...
    def insert_master_key_check(self, check_enc: bytes, now: datetime) -> None: ...
    def encrypted_sample(self) -> EncryptedSample | None: ...
    def set_rbac_policy(self, project_id: str, document: dict[str, Any], now: datetime) -> None: ...

    # Users, search, and the failure count and lock
    def insert_user(self, project_id: str, new: NewUser) -> None: ...
    def resolve_user_id(self, project_id: str, user_id_or_external_id: str) -> str | None: ...
    def find_user(self, project_id: str, user_id_or_external_id: str, now: datetime) -> User | None: ...
    def find_user_with_totp(
        self, project_id: str, user_id_or_external_id: str, now: datetime
    ) -> tuple[User, TotpRow | None] | None: ...
    def get_user(
        self, project_id: str, user_id: str, now: datetime, *, for_update: bool = False
    ) -> User | None: ...
    def update_user(self, project_id: str, user_id: str, changes: UserChanges) -> None: ...
    def delete_user(self, project_id: str, user_id: str) -> bool: ...
    def search_users(
        self,
        project_id: str,
        *,
        operator: str,
        filters: Sequence[SearchFilter],
        limit: int,
        after: tuple[datetime, str] | None,
        now: datetime,
    ) -> tuple[list[User], int]: ...
    def count_failure(
        self, project_id: str, user_id: str, *, now: datetime, threshold: int, until: datetime
    ) -> tuple[bool, datetime | None]: ...
    def clear_failures(self, project_id: str, user_id: str, *, now: datetime) -> bool: ...
    def unlock_user(self, project_id: str, user_id: str) -> bool: ...

    # TOTPs and recovery codes
    def retire_expired_totp(self, project_id: str, user_id: str, now: datetime) -> None: ...
    def insert_totp(self, project_id: str, row: TotpRow) -> None: ...
    def insert_recovery_codes(self, project_id: str, rows: Sequence[RecoveryCodeRow]) -> None: ...
    def consume_totp_step(self, project_id: str, totp_id: str, step: int) -> bool: ...
    def delete_totp(self, project_id: str, totp_id: str) -> str | None: ...
    def recovery_codes(
        self, project_id: str, totp_id: str, *, unused_only: bool
    ) -> list[RecoveryCodeRow]: ...
    def find_recovery_code(
        self, project_id: str, totp_id: str, code_hash: bytes
    ) -> RecoveryCodeRow | None: ...
    def use_recovery_code(
        self, project_id: str, totp_id: str, recovery_code_id: str, now: datetime
    ) -> bool: ...

    # Sessions and their factors
    def insert_session(self, project_id: str, session: Session, token_hash: bytes) -> None: ...
    def session_by_token_hash(self, project_id: str, token_hash: bytes) -> SessionRow | None: ...
    def session_by_id(self, project_id: str, session_id: str) -> SessionRow | None: ...
    def update_session(
        self,
        project_id: str,
        session_id: str,
        *,
        last_accessed_at: datetime,
        expires_at: datetime | None = None,
        custom_claims: dict[str, Any] | None = None,
        roles: tuple[str, ...] | None = None,
    ) -> bool: ...
    def upsert_factor(self, session_id: str, factor: AuthenticationFactor) -> None: ...
    def revoke_session(self, project_id: str, session_id: str, now: datetime) -> bool: ...
    def active_sessions(self, project_id: str, user_id: str, now: datetime) -> list[Session]: ...

    # Operator queries across projects
    def lock_project_creation(self) -> None: ...
    def project_summaries(self) -> list[ProjectSummary]: ...
    def project_of_user(self, user_id: str) -> str | None: ...
    def project_of_session(self, session_id: str) -> str | None: ...
    def user_summaries(
        self, project_id: str, *, email: str | None = None, user_ids: Sequence[str] | None = None, limit: int
    ) -> list[UserSummary]: ...


class Storage(Protocol):
    """A database. Thread-safe; one per process."""

    # SQLite's error name once the store stopped after an I/O error or corruption (every transaction then
    # raises ``errors.StoreFailed``); None while it is sound.
    failure: str | None

    def transaction(
        self, *, readonly: bool = False, durable: bool = False
    ) -> AbstractContextManager[Transaction]:
        """A transaction, committed when the block ends normally and rolled back on any exception; a
        ``durable`` one is on disk when it commits (for those that consume a TOTP step or recovery code)."""
        ...

    def first_transaction_check(self, check: Callable[[Transaction], None]) -> AbstractContextManager[None]:
        """Within the block, run ``check(tx)`` right after ``BEGIN`` of the next transaction opened in this
        context (thread or task), once, before any of its statements; a check that raises rolls it back."""
        ...

    def check_pending(self) -> bool:
        """Whether a check registered with ``first_transaction_check`` is still to run."""
        ...

    def count_hits(self, hits: Sequence[Hit | UserHit], now_epoch: float) -> list[int]:
        """Count one request in each rate-limit counter, atomically across processes; the new counts."""
        ...

    async def run_on_loop(self, call: Callable[[], T]) -> T:
        """``call()`` on the event loop's thread, suspended where it would wait (``totpflow.server.suspend``);
        :class:`WouldWait` before it starts where the store cannot do that."""
        ...

    def dispose(self) -> None:
        """Close the pooled connections (the store stays usable; new ones open when needed)."""
        ...
