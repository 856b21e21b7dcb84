"""Users with their emails and phone numbers, user search, and the failure count and lock of a user
(the rules: ``totpflow.server.lockout``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError

from totpflow.server import errors, lockout
from totpflow.server.domain.models import Email, Name, PhoneNumber, TotpRef, User
from totpflow.server.storage import search_filters
from totpflow.server.storage.base import Queries
from totpflow.server.storage.records import NewUser, SearchFilter, UserChanges
from totpflow.server.storage.schema import (
    emails,
    phone_numbers,
    recovery_codes,
    session_factors,
    sessions,
    totps,
    users,
)
from totpflow.server.storage.types import UtcDateTime

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
_INSERT_USER = users.insert()
_INSERT_EMAIL = emails.insert()
_INSERT_PHONE = phone_numbers.insert()

# The failure count and the lock (``totpflow.server.lockout``): each change is one conditional UPDATE.
# A user is not locked when it has no lock or its lock has ended; the SQL of ``lockout.is_locked``.
_NOT_LOCKED = or_(users.c.lock_expires_at.is_(None), users.c.lock_expires_at <= bindparam("now"))
_REACHES = users.c.failed_attempts + 1 >= bindparam("threshold")
_COUNT_FAILURE = (
    update(users)
    .where(users.c.project_id == _PID, users.c.user_id == _UID, _NOT_LOCKED)
    .values(
        failed_attempts=case((_REACHES, 0), else_=users.c.failed_attempts + 1),
        lock_created_at=case((_REACHES, bindparam("now")), else_=users.c.lock_created_at),
        lock_expires_at=case((_REACHES, bindparam("until")), else_=users.c.lock_expires_at),
    )
    .returning(users.c.lock_expires_at)
)
_CLEAR_AFTER_SUCCESS = (
    update(users)
    .where(users.c.project_id == _PID, users.c.user_id == _UID, _NOT_LOCKED)
    .values(
        failed_attempts=0,
        lock_created_at=None,
        lock_expires_at=None,
        status=case((users.c.status == "pending", "active"), else_=users.c.status),
    )
)
_UNLOCK = (
    update(users)
    .where(users.c.project_id == _PID, users.c.user_id == _UID)
    .values(failed_attempts=0, lock_created_at=None, lock_expires_at=None)
)


class UserQueries(Queries):
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

    # The failure count and the lock

    def count_failure(
        self, project_id: str, user_id: str, *, now: datetime, threshold: int, until: datetime
    ) -> tuple[bool, datetime | None]:
        """Count one failed attempt of a user who is not locked; when the count reaches ``threshold``, lock
        the user until ``until`` and restart the count. (counted, the user's lock expiry after the update);
        not counted when the user is locked or not in this project."""
        params = {"pid": project_id, "uid": user_id, "now": now, "threshold": threshold, "until": until}
        row = self._c.execute(_COUNT_FAILURE, params).first()
        return (False, None) if row is None else (True, row.lock_expires_at)

    def clear_failures(self, project_id: str, user_id: str, *, now: datetime) -> bool:
        """Reset the count and activate a pending user unless the user is locked (or gone) at ``now``;
        False when nothing changed."""
        result = self._c.execute(_CLEAR_AFTER_SUCCESS, {"pid": project_id, "uid": user_id, "now": now})
        return bool(result.rowcount == 1)

    def unlock_user(self, project_id: str, user_id: str) -> bool:
        """Lift the user's lock, if any, and clear its failure count; False when there is no such user."""
        return bool(self._c.execute(_UNLOCK, {"pid": project_id, "uid": user_id}).rowcount == 1)


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
