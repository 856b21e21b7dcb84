"""The store: one SQLAlchemy Core implementation for SQLite and PostgreSQL.

``Store.transaction()`` yields a ``Tx`` whose methods are the queries services need. Every method takes the
calling project's id and filters on it, so one project never reads or changes another's rows. Invariants
that must hold across processes are single statements: a conditional UPDATE whose row count decides (TOTP
replay, recovery code use, failure counting and locking) or a constraint (unique email, one live TOTP per
user).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    Engine,
    Insert,
    String,
    Table,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import IntegrityError

from totpflow.server import errors, lockout
from totpflow.server.domain.models import (
    AuthenticationFactor,
    Email,
    Name,
    PhoneNumber,
    Project,
    Session,
    TotpRef,
    User,
)
from totpflow.server.storage import search_filters
from totpflow.server.storage.records import (
    ProjectRow,
    RecoveryCodeRow,
    SearchFilter,
    SessionRow,
    SigningKeyRow,
    TotpRow,
)
from totpflow.server.storage.schema import (
    emails,
    phone_numbers,
    projects,
    rbac_policies,
    recovery_codes,
    session_factors,
    sessions,
    signing_keys,
    totps,
    users,
)
from totpflow.server.storage.types import UtcDateTime


def _constraint_of(exc: IntegrityError) -> str:
    """The violated constraint's name (PostgreSQL) or column list (SQLite), lower-cased, for error mapping."""
    diag = getattr(exc.orig, "diag", None)
    name = getattr(diag, "constraint_name", None)
    return (name or str(exc.orig)).lower()


# Prebuilt statements for the per-request hot paths: building a Core construct costs more than running the
# query on SQLite, so these are built once and executed with bound parameters.
_PID: BindParameter[str] = bindparam("pid")
_UID: BindParameter[str] = bindparam("uid")
_RESOLVE_USER = (
    select(users.c.user_id)
    .where(
        users.c.project_id == _PID,
        or_(users.c.user_id == bindparam("ref"), users.c.external_id == bindparam("ref")),
    )
    .order_by((users.c.user_id == bindparam("ref")).desc())
    .limit(1)
)
_ONE_USER = select(users).where(users.c.project_id == _PID, users.c.user_id == _UID)
_LIVE_TOTP = select(totps).where(totps.c.project_id == _PID, totps.c.user_id == _UID, ~totps.c.deleted)
_SESSION_BY_ID = select(sessions).where(
    sessions.c.project_id == _PID, sessions.c.session_id == bindparam("sid")
)
_SESSION_BY_TOKEN = select(sessions).where(
    sessions.c.project_id == _PID, sessions.c.token_hash == bindparam("th")
)
_SESSION_FACTORS = (
    select(session_factors)
    .where(session_factors.c.session_id == bindparam("sid"))
    .order_by(session_factors.c.created_at, session_factors.c.type)
)
_RBAC_POLICY = select(rbac_policies.c.policy).where(rbac_policies.c.project_id == _PID)
# A user named by its id or its external id, the whole row in one statement (the id wins when a value is
# both: one user's id can be another's external id).
_USER_BY_REF = (
    select(users)
    .where(
        users.c.project_id == _PID,
        or_(users.c.user_id == bindparam("ref"), users.c.external_id == bindparam("ref")),
    )
    .order_by((users.c.user_id == bindparam("ref")).desc())
    .limit(1)
)
# A user's emails, phone numbers and live TOTPs in one statement: rows of (kind, part_id, value, verified,
# created_at), TOTPs first so the compound's column types (and SQLite's result processing) are the TOTPs'.
_ONE_USER_PARTS = union_all(
    select(
        literal_column("'t'").label("kind"),
        totps.c.totp_id.label("part_id"),
        cast(null(), String).label("value"),
        totps.c.verified,
        totps.c.created_at,
    ).where(totps.c.project_id == _PID, totps.c.user_id == _UID, ~totps.c.deleted),
    select(
        literal_column("'e'"),
        emails.c.email_id,
        emails.c.email,
        emails.c.verified,
        cast(null(), UtcDateTime),
    ).where(emails.c.project_id == _PID, emails.c.user_id == _UID),
    select(
        literal_column("'p'"),
        phone_numbers.c.phone_id,
        phone_numbers.c.phone_number,
        phone_numbers.c.verified,
        cast(null(), UtcDateTime),
    ).where(phone_numbers.c.project_id == _PID, phone_numbers.c.user_id == _UID),
)
_GET_PROJECT = select(projects).where(projects.c.project_id == _PID)
_ALL_SIGNING_KEYS = (
    select(signing_keys)
    .where(signing_keys.c.project_id == _PID, signing_keys.c.active)
    .order_by(signing_keys.c.generation.desc())
)
_LIVE_SIGNING_KEYS = _ALL_SIGNING_KEYS.where(
    or_(signing_keys.c.superseded_at.is_(None), signing_keys.c.superseded_at > bindparam("after"))
)
# Writes of the enrollment flow, built once; values travel as bound parameters.
_INSERT_USER = users.insert()
_INSERT_EMAIL = emails.insert()
_INSERT_PHONE = phone_numbers.insert()
_INSERT_TOTP = totps.insert()
_INSERT_RECOVERY_CODES = recovery_codes.insert()
_INSERT_SESSION = sessions.insert()
_CONSUME_STEP = (
    update(totps)
    .where(
        totps.c.project_id == _PID,
        totps.c.totp_id == bindparam("tid"),
        ~totps.c.deleted,
        or_(totps.c.last_used_step.is_(None), totps.c.last_used_step < bindparam("step")),
    )
    .values(last_used_step=bindparam("step"), verified=True)
)


def _upsert_factor_statement(dialect: Any) -> Any:
    """Insert a session factor or, when the session has one of that type and delivery method, take the new
    factor id and times but keep its ``created_at``."""
    stmt = dialect.insert(session_factors)
    return stmt.on_conflict_do_update(
        index_elements=["session_id", "type", "delivery_method"],
        set_={
            "factor_id": stmt.excluded.factor_id,
            "last_authenticated_at": stmt.excluded.last_authenticated_at,
            "updated_at": stmt.excluded.updated_at,
        },
    )


_UPSERT_FACTOR = {
    "postgresql": _upsert_factor_statement(pg_dialect),
    "sqlite": _upsert_factor_statement(sqlite_dialect),
}


@dataclass(frozen=True, slots=True)
class NewUser:
    user_id: str
    status: str
    created_at: datetime
    name: Name | None
    trusted_metadata: dict[str, Any]
    untrusted_metadata: dict[str, Any]
    external_id: str | None
    roles: tuple[str, ...]
    email: Email | None
    phone_number: PhoneNumber | None


@dataclass(frozen=True, slots=True)
class UserChanges:
    """The new values of an updated user's fields; ``None`` leaves a field as it is."""

    name: Name | None = None
    trusted_metadata: dict[str, Any] | None = None
    untrusted_metadata: dict[str, Any] | None = None
    external_id: str | None = None
    clear_external_id: bool = False
    roles: tuple[str, ...] | None = None


class Tx:
    """Queries inside one database transaction."""

    def __init__(self, connection: Connection) -> None:
        self._c = connection

    @property
    def dialect(self) -> str:
        return self._c.dialect.name

    def execute(self, statement: Any, params: dict[str, Any] | None = None) -> Any:
        """Run a statement of a module that owns its own queries (``totpflow.server.lockout``,
        ``totpflow.server.rate_limits``)."""
        return self._c.execute(statement, params)

    def execute_driver_sql(self, sql: str) -> None:
        self._c.exec_driver_sql(sql)

    def _insert(self, table: Table) -> Insert:
        if self._c.dialect.name == "postgresql":
            return pg_dialect.insert(table)
        return sqlite_dialect.insert(table)

    # --- projects -----------------------------------------------------------------------------------------

    def insert_project(self, project: Project, secret_hash: bytes) -> bool:
        """Insert unless the id exists; True when inserted."""
        stmt = self._insert(projects).values(
            project_id=project.project_id,
            name=project.name,
            secret_hash=secret_hash,
            created_at=project.created_at,
        )
        # RETURNING, not rowcount: psycopg reports -1 for INSERT … ON CONFLICT through SQLAlchemy.
        inserted = stmt.on_conflict_do_nothing().returning(projects.c.project_id)  # type: ignore[attr-defined]
        return self._c.execute(inserted).first() is not None

    def update_project(self, project_id: str, *, name: str, secret_hash: bytes) -> None:
        self._c.execute(
            update(projects)
            .where(projects.c.project_id == project_id)
            .values(name=name, secret_hash=secret_hash)
        )

    def get_project(self, project_id: str) -> ProjectRow | None:
        row = self._c.execute(_GET_PROJECT, {"pid": project_id}).first()
        if row is None:
            return None
        return ProjectRow(Project(row.project_id, row.name, row.created_at), bytes(row.secret_hash))

    def any_project(self) -> bool:
        return bool(self._c.execute(select(exists().select_from(projects))).scalar())

    def project_ids(self, limit: int) -> list[str]:
        """Up to ``limit`` project ids, oldest first."""
        query = select(projects.c.project_id).order_by(projects.c.created_at, projects.c.project_id)
        return [str(r.project_id) for r in self._c.execute(query.limit(limit)).all()]

    def signing_keys(
        self, project_id: str, *, superseded_after: datetime | None = None
    ) -> list[SigningKeyRow]:
        """The project's keys, newest generation first: those not superseded and those superseded after
        ``superseded_after`` (every key when None)."""
        if superseded_after is None:
            rows = self._c.execute(_ALL_SIGNING_KEYS, {"pid": project_id}).all()
        else:
            params = {"pid": project_id, "after": superseded_after}
            rows = self._c.execute(_LIVE_SIGNING_KEYS, params).all()
        return [
            SigningKeyRow(
                project_id,
                r.kid,
                bytes(r.private_key_enc),
                dict(r.public_jwk),
                generation=int(r.generation),
                superseded_at=r.superseded_at,
                created_at=r.created_at,
            )
            for r in rows
        ]

    def latest_signing_generation(self, project_id: str) -> int:
        """The highest generation of the project's keys, 0 when it has none."""
        query = select(func.max(signing_keys.c.generation)).where(signing_keys.c.project_id == project_id)
        return int(self._c.execute(query).scalar() or 0)

    def supersede_signing_keys(self, project_id: str, below_generation: int, at: datetime) -> None:
        """Mark the keys older than ``below_generation`` as no longer signing from ``at`` (which may be
        ahead); a key already superseded earlier keeps its time."""
        self._c.execute(
            update(signing_keys)
            .where(
                signing_keys.c.project_id == project_id,
                signing_keys.c.generation < below_generation,
                or_(signing_keys.c.superseded_at.is_(None), signing_keys.c.superseded_at > at),
            )
            .values(superseded_at=at)
        )

    # --- RBAC policy ----------------------------------------------------------------------------------------

    def rbac_policy(self, project_id: str) -> Any | None:
        """The project's stored policy document as stored (validated by the caller), None when it has
        none."""
        row = self._c.execute(_RBAC_POLICY, {"pid": project_id}).first()
        return None if row is None else row.policy

    def set_rbac_policy(self, project_id: str, document: dict[str, Any], now: datetime) -> None:
        """Store (insert or replace) the project's policy document."""
        stmt = self._insert(rbac_policies).values(project_id=project_id, policy=document, updated_at=now)
        self._c.execute(
            stmt.on_conflict_do_update(  # type: ignore[attr-defined]
                index_elements=["project_id"], set_={"policy": document, "updated_at": now}
            )
        )

    def insert_signing_key(
        self, project_id: str, generation: int, key: SigningKeyRow, created_at: datetime
    ) -> bool:
        """Insert generation ``generation`` of the project's key unless another process already has."""
        stmt = self._insert(signing_keys).values(
            kid=key.kid,
            project_id=project_id,
            generation=generation,
            private_key_enc=key.private_key_enc,
            public_jwk=key.public_jwk,
            created_at=created_at,
            active=True,
        )
        inserted = stmt.on_conflict_do_nothing().returning(signing_keys.c.kid)  # type: ignore[attr-defined]
        return self._c.execute(inserted).first() is not None

    # --- users --------------------------------------------------------------------------------------------

    def insert_user(self, project_id: str, new: NewUser) -> None:
        """Insert a user with at most one email and one phone number; constraint violations become
        ``DuplicateExternalId``, ``DuplicateEmail`` or ``DuplicatePhoneNumber``."""
        try:
            self._c.execute(
                _INSERT_USER,
                {
                    "user_id": new.user_id,
                    "project_id": project_id,
                    "status": new.status,
                    "created_at": new.created_at,
                    "name": None if new.name is None else _name_json(new.name),
                    "trusted_metadata": new.trusted_metadata,
                    "untrusted_metadata": new.untrusted_metadata,
                    "external_id": new.external_id,
                    "roles": list(new.roles),
                    "failed_attempts": 0,
                },
            )
        except IntegrityError as exc:
            raise errors.DuplicateExternalId("external_id") from exc
        if new.email is not None:
            try:
                self._c.execute(
                    _INSERT_EMAIL,
                    {
                        "email_id": new.email.email_id,
                        "project_id": project_id,
                        "user_id": new.user_id,
                        "email": new.email.email,
                        "email_key": new.email.email.lower(),
                        "verified": new.email.verified,
                    },
                )
            except IntegrityError as exc:
                raise errors.DuplicateEmail("email") from exc
        if new.phone_number is not None:
            try:
                self._c.execute(
                    _INSERT_PHONE,
                    {
                        "phone_id": new.phone_number.phone_id,
                        "project_id": project_id,
                        "user_id": new.user_id,
                        "phone_number": new.phone_number.phone_number,
                        "verified": new.phone_number.verified,
                    },
                )
            except IntegrityError as exc:
                raise errors.DuplicatePhoneNumber("phone_number") from exc

    def resolve_user_id(self, project_id: str, user_id_or_external_id: str) -> str | None:
        """The user_id of a user named by its id or its external id, within the project."""
        row = self._c.execute(_RESOLVE_USER, {"pid": project_id, "ref": user_id_or_external_id}).first()
        return None if row is None else str(row.user_id)

    def find_user(self, project_id: str, user_id_or_external_id: str, now: datetime) -> User | None:
        """The user named by its id or its external id (the id wins when a value is both), within the
        project: two statements, the user's row and its parts."""
        row = self._c.execute(_USER_BY_REF, {"pid": project_id, "ref": user_id_or_external_id}).first()
        return None if row is None else self._user_with_parts(project_id, row, now)

    def get_user(
        self, project_id: str, user_id: str, now: datetime, *, for_update: bool = False
    ) -> User | None:
        """The user with its parts; ``for_update`` also locks its row until the transaction ends
        (PostgreSQL ``FOR UPDATE``; a SQLite write transaction holds the database's write lock already)."""
        query = _ONE_USER.with_for_update() if for_update else _ONE_USER
        row = self._c.execute(query, {"pid": project_id, "uid": user_id}).first()
        return None if row is None else self._user_with_parts(project_id, row, now)

    def update_user(self, project_id: str, user_id: str, changes: UserChanges) -> None:
        """Write the given fields; a taken external id is ``DuplicateExternalId``."""
        values: dict[str, Any] = {}
        if changes.name is not None:
            values["name"] = _name_json(changes.name)
        if changes.trusted_metadata is not None:
            values["trusted_metadata"] = changes.trusted_metadata
        if changes.untrusted_metadata is not None:
            values["untrusted_metadata"] = changes.untrusted_metadata
        if changes.external_id is not None or changes.clear_external_id:
            values["external_id"] = changes.external_id
        if changes.roles is not None:
            values["roles"] = list(changes.roles)
        if not values:
            return
        statement = (
            update(users).where(users.c.project_id == project_id, users.c.user_id == user_id).values(**values)
        )
        try:
            self._c.execute(statement)
        except IntegrityError as exc:  # the transaction is rolled back as the error leaves it
            raise errors.DuplicateExternalId("external_id") from exc

    def _user_with_parts(self, project_id: str, row: Any, now: datetime) -> User:
        """The user of a ``users`` row with its emails, phone numbers and live TOTPs (one statement)."""
        parts = self._c.execute(_ONE_USER_PARTS, {"pid": project_id, "uid": row.user_id}).all()
        by_id = sorted(parts, key=lambda p: str(p.part_id))
        return _user(
            project_id,
            row,
            now,
            emails=tuple(Email(p.part_id, p.value, bool(p.verified)) for p in by_id if p.kind == "e"),
            phone_numbers=tuple(
                PhoneNumber(p.part_id, p.value, bool(p.verified)) for p in by_id if p.kind == "p"
            ),
            totps=tuple(
                TotpRef(p.part_id, bool(p.verified))
                for p in sorted((p for p in parts if p.kind == "t"), key=lambda p: (p.created_at, p.part_id))
            ),
        )

    def _load_users(self, project_id: str, user_ids: Sequence[str], now: datetime) -> list[User]:
        if not user_ids:
            return []
        rows = self._c.execute(
            select(users).where(users.c.project_id == project_id, users.c.user_id.in_(user_ids))
        ).all()
        email_rows = self._c.execute(
            select(emails)
            .where(emails.c.project_id == project_id, emails.c.user_id.in_(user_ids))
            .order_by(emails.c.email_id)
        ).all()
        phone_rows = self._c.execute(
            select(phone_numbers)
            .where(phone_numbers.c.project_id == project_id, phone_numbers.c.user_id.in_(user_ids))
            .order_by(phone_numbers.c.phone_id)
        ).all()
        totp_rows = self._c.execute(
            select(totps.c.totp_id, totps.c.user_id, totps.c.verified)
            .where(totps.c.project_id == project_id, totps.c.user_id.in_(user_ids), ~totps.c.deleted)
            .order_by(totps.c.created_at)
        ).all()
        # Grouped once: a page of a thousand users must not compare every part with every user.
        user_emails: dict[str, list[Email]] = defaultdict(list)
        for e in email_rows:
            user_emails[e.user_id].append(Email(e.email_id, e.email, e.verified))
        user_phones: dict[str, list[PhoneNumber]] = defaultdict(list)
        for p in phone_rows:
            user_phones[p.user_id].append(PhoneNumber(p.phone_id, p.phone_number, p.verified))
        user_totps: dict[str, list[TotpRef]] = defaultdict(list)
        for t in totp_rows:
            user_totps[t.user_id].append(TotpRef(t.totp_id, t.verified))
        by_user = {
            r.user_id: _user(
                project_id,
                r,
                now,
                emails=tuple(user_emails.get(r.user_id, ())),
                phone_numbers=tuple(user_phones.get(r.user_id, ())),
                totps=tuple(user_totps.get(r.user_id, ())),
            )
            for r in rows
        }
        return [by_user[u] for u in user_ids if u in by_user]

    def activate_user(self, project_id: str, user_id: str) -> None:
        """A pending user becomes active on its first successful authentication."""
        self._c.execute(
            update(users)
            .where(users.c.project_id == project_id, users.c.user_id == user_id, users.c.status == "pending")
            .values(status="active")
        )

    def delete_user(self, project_id: str, user_id: str) -> bool:
        """Delete the user and everything hanging off it (its sessions stop authenticating at once)."""
        owned_sessions = select(sessions.c.session_id).where(
            sessions.c.project_id == project_id, sessions.c.user_id == user_id
        )
        owned_totps = select(totps.c.totp_id).where(
            totps.c.project_id == project_id, totps.c.user_id == user_id
        )
        self._c.execute(delete(session_factors).where(session_factors.c.session_id.in_(owned_sessions)))
        self._c.execute(
            delete(sessions).where(sessions.c.project_id == project_id, sessions.c.user_id == user_id)
        )
        self._c.execute(delete(recovery_codes).where(recovery_codes.c.totp_id.in_(owned_totps)))
        self._c.execute(delete(totps).where(totps.c.project_id == project_id, totps.c.user_id == user_id))
        self._c.execute(delete(emails).where(emails.c.project_id == project_id, emails.c.user_id == user_id))
        self._c.execute(
            delete(phone_numbers).where(
                phone_numbers.c.project_id == project_id, phone_numbers.c.user_id == user_id
            )
        )
        result = self._c.execute(
            delete(users).where(users.c.project_id == project_id, users.c.user_id == user_id)
        )
        return result.rowcount == 1

    def search_users(
        self,
        project_id: str,
        *,
        operator: str,
        filters: Sequence[SearchFilter],
        limit: int,
        after: tuple[datetime, str] | None,
        now: datetime,
    ) -> tuple[list[User], int]:
        """One page of users ordered by (created_at, user_id), after the keyset ``after``, and the total
        count."""
        conditions = [search_filters.condition(f) for f in filters]
        where = [users.c.project_id == project_id]
        if conditions:
            where.append(and_(*conditions) if operator == "AND" else or_(*conditions))
        total = int(self._c.execute(select(func.count()).select_from(users).where(*where)).scalar_one())
        page_where = list(where)
        if after is not None:
            created_at, user_id = after
            page_where.append(
                or_(
                    users.c.created_at > created_at,
                    and_(users.c.created_at == created_at, users.c.user_id > user_id),
                )
            )
        ids = [
            str(r.user_id)
            for r in self._c.execute(
                select(users.c.user_id)
                .where(*page_where)
                .order_by(users.c.created_at, users.c.user_id)
                .limit(limit)
            ).all()
        ]
        return self._load_users(project_id, ids, now), total

    # --- TOTPs and recovery codes -------------------------------------------------------------------------

    def live_totp(self, project_id: str, user_id: str) -> TotpRow | None:
        row = self._c.execute(_LIVE_TOTP, {"pid": project_id, "uid": user_id}).first()
        return None if row is None else _totp_row(row)

    def retire_expired_totp(self, project_id: str, user_id: str, now: datetime) -> None:
        """An unverified TOTP past its expiry no longer counts as active: mark it deleted."""
        expired = select(totps.c.totp_id).where(
            totps.c.project_id == project_id,
            totps.c.user_id == user_id,
            ~totps.c.deleted,
            ~totps.c.verified,
            totps.c.expires_at <= now,
        )
        self._c.execute(delete(recovery_codes).where(recovery_codes.c.totp_id.in_(expired)))
        self._c.execute(
            update(totps)
            .where(
                totps.c.project_id == project_id,
                totps.c.user_id == user_id,
                ~totps.c.deleted,
                ~totps.c.verified,
                totps.c.expires_at <= now,
            )
            .values(deleted=True)
        )

    def insert_totp(self, project_id: str, row: TotpRow) -> None:
        """Raises ``ActiveTotpExists`` when the user already has a live TOTP (partial unique index)."""
        try:
            self._c.execute(
                _INSERT_TOTP,
                {
                    "totp_id": row.totp_id,
                    "project_id": project_id,
                    "user_id": row.user_id,
                    "secret_enc": row.secret_enc,
                    "verified": row.verified,
                    "created_at": row.created_at,
                    "expires_at": row.expires_at,
                    "last_used_step": row.last_used_step,
                    "deleted": False,
                },
            )
        except IntegrityError as exc:
            raise errors.ActiveTotpExists("user_id") from exc

    def insert_recovery_codes(self, project_id: str, rows: Sequence[RecoveryCodeRow]) -> None:
        self._c.execute(
            _INSERT_RECOVERY_CODES,
            [
                {
                    "recovery_code_id": r.recovery_code_id,
                    "project_id": project_id,
                    "totp_id": r.totp_id,
                    "position": i,
                    "code_enc": r.code_enc,
                    "code_hash": r.code_hash,
                    "used_at": None,
                }
                for i, r in enumerate(rows)
            ],
        )

    def consume_totp_step(self, project_id: str, totp_id: str, step: int) -> bool:
        """RFC 6238 §5.2 one-time use: record ``step`` only if it is newer than the last used one. A code
        that is accepted also verifies its TOTP, in the same statement (a verified one stays verified)."""
        result = self._c.execute(_CONSUME_STEP, {"pid": project_id, "tid": totp_id, "step": step})
        return result.rowcount == 1

    def mark_totp_verified(self, project_id: str, totp_id: str) -> None:
        self._c.execute(
            update(totps)
            .where(totps.c.project_id == project_id, totps.c.totp_id == totp_id)
            .values(verified=True)
        )

    def delete_totp(self, project_id: str, totp_id: str) -> str | None:
        """Soft-delete a live TOTP and drop its recovery codes; returns its user's id, or None if not
        found."""
        row = self._c.execute(
            select(totps.c.user_id).where(
                totps.c.project_id == project_id, totps.c.totp_id == totp_id, ~totps.c.deleted
            )
        ).first()
        if row is None:
            return None
        self._c.execute(delete(recovery_codes).where(recovery_codes.c.totp_id == totp_id))
        self._c.execute(
            update(totps)
            .where(totps.c.project_id == project_id, totps.c.totp_id == totp_id)
            .values(deleted=True)
        )
        return str(row.user_id)

    def recovery_codes(self, project_id: str, totp_id: str, *, unused_only: bool) -> list[RecoveryCodeRow]:
        query = select(recovery_codes).where(
            recovery_codes.c.project_id == project_id, recovery_codes.c.totp_id == totp_id
        )
        if unused_only:
            query = query.where(recovery_codes.c.used_at.is_(None))
        return [_recovery_row(r) for r in self._c.execute(query.order_by(recovery_codes.c.position)).all()]

    def find_recovery_code(self, project_id: str, totp_id: str, code_hash: bytes) -> RecoveryCodeRow | None:
        row = self._c.execute(
            select(recovery_codes).where(
                recovery_codes.c.project_id == project_id,
                recovery_codes.c.totp_id == totp_id,
                recovery_codes.c.code_hash == code_hash,
            )
        ).first()
        return None if row is None else _recovery_row(row)

    def use_recovery_code(self, project_id: str, recovery_code_id: str, now: datetime) -> bool:
        """Single use: only the first of any number of concurrent callers changes the row."""
        result = self._c.execute(
            update(recovery_codes)
            .where(
                recovery_codes.c.project_id == project_id,
                recovery_codes.c.recovery_code_id == recovery_code_id,
                recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=now)
        )
        return result.rowcount == 1

    # --- sessions -----------------------------------------------------------------------------------------

    def insert_session(self, project_id: str, session: Session, token_hash: bytes) -> None:
        self._c.execute(
            _INSERT_SESSION,
            {
                "session_id": session.session_id,
                "project_id": project_id,
                "user_id": session.user_id,
                "token_hash": token_hash,
                "started_at": session.started_at,
                "last_accessed_at": session.last_accessed_at,
                "expires_at": session.expires_at,
                "revoked_at": None,
                "custom_claims": session.custom_claims,
                "attributes": session.attributes,
                "roles": list(session.roles),
            },
        )

    def session_by_token_hash(self, project_id: str, token_hash: bytes) -> SessionRow | None:
        return self._one_session(_SESSION_BY_TOKEN, {"pid": project_id, "th": token_hash})

    def session_by_id(self, project_id: str, session_id: str) -> SessionRow | None:
        return self._one_session(_SESSION_BY_ID, {"pid": project_id, "sid": session_id})

    def _one_session(self, statement: Any, params: dict[str, Any]) -> SessionRow | None:
        row = self._c.execute(statement, params).first()
        if row is None:
            return None
        return SessionRow(self._session(row), bytes(row.token_hash), row.revoked_at)

    def _session(self, row: Any) -> Session:
        factors = self._c.execute(_SESSION_FACTORS, {"sid": row.session_id}).all()
        return Session(
            session_id=row.session_id,
            user_id=row.user_id,
            started_at=row.started_at,
            last_accessed_at=row.last_accessed_at,
            expires_at=row.expires_at,
            authentication_factors=tuple(_factor(f) for f in factors),
            roles=tuple(row.roles),
            attributes=dict(row.attributes),
            custom_claims=dict(row.custom_claims),
        )

    def update_session(
        self,
        project_id: str,
        session_id: str,
        *,
        last_accessed_at: datetime,
        expires_at: datetime | None = None,
        custom_claims: dict[str, Any] | None = None,
        roles: tuple[str, ...] | None = None,
    ) -> None:
        values: dict[str, Any] = {"last_accessed_at": last_accessed_at}
        if expires_at is not None:
            values["expires_at"] = expires_at
        if custom_claims is not None:
            values["custom_claims"] = custom_claims
        if roles is not None:
            values["roles"] = list(roles)
        self._c.execute(
            update(sessions)
            .where(sessions.c.project_id == project_id, sessions.c.session_id == session_id)
            .values(**values)
        )

    def upsert_factor(self, session_id: str, factor: AuthenticationFactor) -> None:
        """Add the factor, or refresh ``last_authenticated_at``/``updated_at`` and its id if the session
        already has a factor of that type and delivery method (stytch-api.md §3.2)."""
        factor_id = factor.totp_id if factor.totp_id is not None else factor.totp_recovery_code_id
        self._c.execute(
            _UPSERT_FACTOR[self._c.dialect.name],
            {
                "session_id": session_id,
                "type": factor.type,
                "delivery_method": factor.delivery_method,
                "factor_id": factor_id,
                "created_at": factor.created_at,
                "last_authenticated_at": factor.last_authenticated_at,
                "updated_at": factor.updated_at,
            },
        )

    def revoke_session(self, project_id: str, session_id: str, now: datetime) -> bool:
        result = self._c.execute(
            update(sessions)
            .where(
                sessions.c.project_id == project_id,
                sessions.c.session_id == session_id,
                sessions.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        return result.rowcount == 1

    def active_sessions(self, project_id: str, user_id: str, now: datetime) -> list[Session]:
        rows = self._c.execute(
            select(sessions)
            .where(
                sessions.c.project_id == project_id,
                sessions.c.user_id == user_id,
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
            )
            .order_by(sessions.c.started_at, sessions.c.session_id)
        ).all()
        return [self._session(r) for r in rows]


def _name_json(name: Name) -> dict[str, str]:
    return {"first_name": name.first_name, "middle_name": name.middle_name, "last_name": name.last_name}


def _user(
    project_id: str,
    r: Any,
    now: datetime,
    *,
    emails: tuple[Email, ...],
    phone_numbers: tuple[PhoneNumber, ...],
    totps: tuple[TotpRef, ...],
) -> User:
    """The domain user of a ``users`` row and its parts; a lock shows only while it lasts."""
    locked = lockout.is_locked(r.lock_expires_at, now)
    return User(
        project_id=project_id,
        user_id=r.user_id,
        status=r.status,
        created_at=r.created_at,
        emails=emails,
        phone_numbers=phone_numbers,
        totps=totps,
        name=None if r.name is None else Name(**r.name),
        trusted_metadata=dict(r.trusted_metadata),
        untrusted_metadata=dict(r.untrusted_metadata),
        external_id=r.external_id,
        roles=tuple(r.roles),
        is_locked=locked,
        lock_created_at=r.lock_created_at if locked else None,
        lock_expires_at=r.lock_expires_at if locked else None,
    )


def _totp_row(row: Any) -> TotpRow:
    return TotpRow(
        totp_id=row.totp_id,
        user_id=row.user_id,
        secret_enc=bytes(row.secret_enc),
        verified=bool(row.verified),
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_step=row.last_used_step,
    )


def _recovery_row(row: Any) -> RecoveryCodeRow:
    return RecoveryCodeRow(
        recovery_code_id=row.recovery_code_id,
        totp_id=row.totp_id,
        code_enc=bytes(row.code_enc),
        code_hash=bytes(row.code_hash),
        used_at=row.used_at,
    )


def _factor(row: Any) -> AuthenticationFactor:
    is_totp = row.type == "totp"
    return AuthenticationFactor(
        type=row.type,
        delivery_method=row.delivery_method,
        created_at=row.created_at,
        last_authenticated_at=row.last_authenticated_at,
        updated_at=row.updated_at,
        totp_id=row.factor_id if is_totp else None,
        totp_recovery_code_id=None if is_totp else row.factor_id,
    )


class Store:
    """A database behind one engine. Thread-safe; share one per process."""

    def __init__(self, engine: Engine, durable_engine: Engine | None = None) -> None:
        self.engine = engine
        # SQLite: connections with synchronous=FULL for ``transaction(durable=True)``; None where every
        # commit is durable already (PostgreSQL).
        self.durable_engine = durable_engine
        # SQLite has one writer at a time. Threads of this process queue for it on a lock, in order and
        # without sleeping; only other processes wait in SQLite's busy handler, whose growing sleeps made
        # the tail latency of concurrent writers seconds long.
        self._write_lock: threading.Lock | nullcontext[None] = (
            threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        )
        # Whether ``transaction(durable=True)`` uses ``durable_engine``; off only to measure what that costs
        # (bench/bench_sqlite_sync.py).
        self.durable_commits = True
        # Unix time after which this process next deletes ended rate-counter windows
        # (``totpflow.server.rate_limits``).
        self.next_counter_prune = 0.0

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def engines(self) -> tuple[Engine, ...]:
        return (self.engine,) if self.durable_engine is None else (self.engine, self.durable_engine)

    @contextmanager
    def transaction(self, *, readonly: bool = False, durable: bool = False) -> Iterator[Tx]:
        """A transaction; committed when the block ends normally, rolled back on any exception.

        On SQLite a read-write transaction starts with ``BEGIN IMMEDIATE`` (it takes the write lock up
        front, so concurrent writers queue on ``busy_timeout`` instead of failing on a lock upgrade);
        ``readonly`` ones use a deferred ``BEGIN`` and, in WAL mode, never block. A ``durable`` one commits
        with ``synchronous=FULL``: when it returns, the commit is on disk (for the transactions that consume a
        TOTP step or a recovery code, whose loss in a power cut would allow one replay).
        """
        engine = self.engine
        if durable and self.durable_commits and self.durable_engine is not None:
            engine = self.durable_engine
        with nullcontext() if readonly else self._write_lock, engine.connect() as connection:
            if readonly:
                connection.execution_options(totpflow_readonly=True)
            with connection.begin():
                yield Tx(connection)

    def dispose(self) -> None:
        for engine in self.engines:
            engine.dispose()
