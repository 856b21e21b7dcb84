"""Users with their emails and phone numbers, user search, and the failure count and lock of a user
(the rules: ``totpflow.server.lockout``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    and_,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from totpflow.server import errors, lockout
from totpflow.server.domain import ids
from totpflow.server.domain.emails import email_key
from totpflow.server.domain.models import Email, Name, PhoneNumber, TotpRef, User
from totpflow.server.storage import search_filters
from totpflow.server.storage.base import Queries
from totpflow.server.storage.records import NewUser, SearchFilter, TotpRow, UserChanges
from totpflow.server.storage.schema import (
    emails,
    phone_numbers,
    recovery_codes,
    session_factors,
    sessions,
    totps,
    users,
)
from totpflow.server.storage.sql import Sql

# A user named by its id or its external id, the whole row in one statement (the id wins when a value is
# both: one user's id can be another's external id).
# A user's emails, phone numbers and live TOTPs in one statement: rows of (kind, part_id, value, verified,
# created_at), TOTPs first so the compound's column types (and SQLite's result processing) are the TOTPs'.

# --- per-request queries (plain SQL, ``storage.sql``) ------------------------------------------------------

_USER_COLUMNS = (
    "user_id, status, created_at, name, trusted_metadata, untrusted_metadata, external_id, roles, "
    "lock_created_at, lock_expires_at"
)
# ``:ext`` is the value as an external id (``external_ref``): NULL, which matches no row, for a value of a
# user id's form
_BY_REF = "(user_id = :ref OR external_id = :ext) ORDER BY user_id = :ref DESC LIMIT 1"


def external_ref(ref: str) -> str | None:
    """``ref`` (a user id or an external id) as the external id to look for: None when it has a user id's
    form, which names a user by its id only. An external id of that form is refused when it is set
    (``validation.external_id``), and one stored before that rule is never matched, so a request for a
    deleted user's id can never reach another user whose external id it was."""
    return None if ids.USER_ID.fullmatch(ref) else ref


def _user_and_parts(which: str, lock: str = "") -> Sql:
    """One user (``which``: the condition naming it) with its emails, phone numbers and live TOTPs, in one
    statement: a row per part (the user's columns repeated), or one row without a part. A TOTP part carries
    what authenticating with it needs (its secret, still encrypted under its binding)."""
    return Sql(
        f"""
        WITH u AS (SELECT {_USER_COLUMNS} FROM users WHERE project_id = :pid AND {which}{lock})
        SELECT u.*, p.kind, p.part_id, p.value, p.verified, p.created_at, p.expires_at, p.secret_enc,
               p.last_used_step
        FROM u LEFT JOIN (
            SELECT 't' AS kind, totp_id AS part_id, CAST(NULL AS VARCHAR(320)) AS value, verified, created_at,
                   expires_at, secret_enc, last_used_step
            FROM totps WHERE project_id = :pid AND user_id = (SELECT user_id FROM u) AND NOT deleted
            UNION ALL
            SELECT 'e', email_id, email, verified, NULL, NULL, NULL, NULL
            FROM emails WHERE project_id = :pid AND user_id = (SELECT user_id FROM u)
            UNION ALL
            SELECT 'p', phone_id, phone_number, verified, NULL, NULL, NULL, NULL
            FROM phone_numbers WHERE project_id = :pid AND user_id = (SELECT user_id FROM u)
        ) p ON TRUE
        """
    )


_USER_BY_REF_SQL = _user_and_parts(_BY_REF)
_USER_BY_ID_SQL = _user_and_parts("user_id = :ref")
_USER_BY_ID_FOR_UPDATE_SQL = {
    "sqlite": _USER_BY_ID_SQL,  # a SQLite write transaction holds the database's write lock already
    "postgresql": _user_and_parts("user_id = :ref", " FOR UPDATE"),
}
_RESOLVE_USER_SQL = Sql(f"SELECT user_id FROM users WHERE project_id = :pid AND {_BY_REF}")
_INSERT_USER_SQL = Sql(
    """
    INSERT INTO users (user_id, project_id, status, created_at, name, trusted_metadata, untrusted_metadata,
                       external_id, roles, failed_attempts)
    VALUES (:user_id, :pid, :status, :created_at, :name, :trusted, :untrusted, :external_id, :roles, 0)
    """
)
_INSERT_EMAIL_SQL = Sql(
    """
    INSERT INTO emails (email_id, project_id, user_id, email, email_key, verified)
    VALUES (:email_id, :pid, :user_id, :email, :email_key, :verified)
    """
)
_INSERT_PHONE_SQL = Sql(
    """
    INSERT INTO phone_numbers (phone_id, project_id, user_id, phone_number, verified)
    VALUES (:phone_id, :pid, :user_id, :phone_number, :verified)
    """
)
# The failure count and the lock (``totpflow.server.lockout``): each change is one conditional UPDATE that
# only touches a user who is not locked (the SQL of ``not lockout.is_locked``).
_NOT_LOCKED_SQL = "(lock_expires_at IS NULL OR lock_expires_at <= :now)"
_COUNT_FAILURE_SQL = Sql(
    f"""
    UPDATE users SET
        failed_attempts = CASE WHEN failed_attempts + 1 >= :threshold THEN 0 ELSE failed_attempts + 1 END,
        lock_created_at = CASE WHEN failed_attempts + 1 >= :threshold THEN :now ELSE lock_created_at END,
        lock_expires_at = CASE WHEN failed_attempts + 1 >= :threshold THEN :until ELSE lock_expires_at END
    WHERE project_id = :pid AND user_id = :uid AND {_NOT_LOCKED_SQL}
    RETURNING lock_expires_at
    """
)
_CLEAR_AFTER_SUCCESS_SQL = Sql(
    f"""
    UPDATE users SET failed_attempts = 0, lock_created_at = NULL, lock_expires_at = NULL,
                     status = CASE WHEN status = 'pending' THEN 'active' ELSE status END
    WHERE project_id = :pid AND user_id = :uid AND {_NOT_LOCKED_SQL}
    """
)
_UNLOCK_SQL = Sql(
    """
    UPDATE users SET failed_attempts = 0, lock_created_at = NULL, lock_expires_at = NULL
    WHERE project_id = :pid AND user_id = :uid
    """
)


class _UserRow(NamedTuple):
    user_id: str
    status: str
    created_at: datetime
    name: dict[str, str] | None
    trusted_metadata: dict[str, Any]
    untrusted_metadata: dict[str, Any]
    external_id: str | None
    roles: list[str]
    lock_created_at: datetime | None
    lock_expires_at: datetime | None


class UserQueries(Queries):
    def insert_user(self, project_id: str, new: NewUser) -> None:
        """Insert a user with at most one email and one phone number; constraint violations become
        ``DuplicateExternalId``, ``DuplicateEmail`` or ``DuplicatePhoneNumber``."""
        b = self._b
        try:
            self._run(
                _INSERT_USER_SQL,
                {
                    "user_id": new.user_id,
                    "pid": project_id,
                    "status": new.status,
                    "created_at": b.ts(new.created_at),
                    "name": b.json(None if new.name is None else _name_json(new.name)),
                    "trusted": b.json(new.trusted_metadata),
                    "untrusted": b.json(new.untrusted_metadata),
                    "external_id": new.external_id,
                    "roles": b.json(list(new.roles)),
                },
            )
        except self._integrity_error as exc:
            raise errors.DuplicateExternalId("external_id") from exc
        if new.email is not None:
            try:
                self._run(
                    _INSERT_EMAIL_SQL,
                    {
                        "email_id": new.email.email_id,
                        "pid": project_id,
                        "user_id": new.user_id,
                        "email": new.email.email,
                        "email_key": email_key(new.email.email),
                        "verified": new.email.verified,
                    },
                )
            except self._integrity_error as exc:
                raise errors.DuplicateEmail("email") from exc
        if new.phone_number is not None:
            try:
                self._run(
                    _INSERT_PHONE_SQL,
                    {
                        "phone_id": new.phone_number.phone_id,
                        "pid": project_id,
                        "user_id": new.user_id,
                        "phone_number": new.phone_number.phone_number,
                        "verified": new.phone_number.verified,
                    },
                )
            except self._integrity_error as exc:
                raise errors.DuplicatePhoneNumber("phone_number") from exc

    def resolve_user_id(self, project_id: str, user_id_or_external_id: str) -> str | None:
        """The user_id of a user named by its id or its external id, within the project."""
        ref = user_id_or_external_id
        params = {"pid": project_id, "ref": ref, "ext": external_ref(ref)}
        row = self._run(_RESOLVE_USER_SQL, params).fetchone()
        return None if row is None else str(row[0])

    def find_user(self, project_id: str, user_id_or_external_id: str, now: datetime) -> User | None:
        """The user named by its id or its external id (the id wins when a value is both), within the
        project, with its parts: one statement."""
        found = self._user(_USER_BY_REF_SQL, project_id, user_id_or_external_id, now)
        return None if found is None else found[0]

    def find_user_with_totp(
        self, project_id: str, user_id_or_external_id: str, now: datetime
    ) -> tuple[User, TotpRow | None] | None:
        """As :meth:`find_user`, with the stored row of the user's live TOTP (None when it has none), from
        the same statement."""
        return self._user(_USER_BY_REF_SQL, project_id, user_id_or_external_id, now)

    def get_user(
        self, project_id: str, user_id: str, now: datetime, *, for_update: bool = False
    ) -> User | None:
        """The user with its parts; ``for_update`` also locks its row until the transaction ends
        (PostgreSQL ``FOR UPDATE``; a SQLite write transaction holds the database's write lock already)."""
        query = _USER_BY_ID_FOR_UPDATE_SQL[self._b.dialect] if for_update else _USER_BY_ID_SQL
        found = self._user(query, project_id, user_id, now)
        return None if found is None else found[0]

    def _user(
        self, query: Sql, project_id: str, ref: str, now: datetime
    ) -> tuple[User, TotpRow | None] | None:
        rows = self._run(query, {"pid": project_id, "ref": ref, "ext": external_ref(ref)}).fetchall()
        if not rows:
            return None
        b = self._b
        first = rows[0]
        row = _UserRow(
            first[0],
            first[1],
            b.read_ts(first[2]),  # type: ignore[arg-type]
            b.read_json(first[3]),
            b.read_json(first[4]),
            b.read_json(first[5]),
            first[6],
            b.read_json(first[7]),
            b.read_ts(first[8]),
            b.read_ts(first[9]),
        )
        user_id = row.user_id
        emails_: list[Email] = []
        phones: list[PhoneNumber] = []
        live: list[TotpRow] = []
        for r in rows:
            kind = r[10]
            if kind == "e":
                emails_.append(Email(r[11], r[12], bool(r[13])))
            elif kind == "p":
                phones.append(PhoneNumber(r[11], r[12], bool(r[13])))
            elif kind == "t":
                live.append(
                    TotpRow(
                        totp_id=r[11],
                        user_id=user_id,
                        secret_enc=bytes(r[16]),
                        verified=bool(r[13]),
                        created_at=b.read_ts(r[14]),  # type: ignore[arg-type]
                        expires_at=b.read_ts(r[15]),  # type: ignore[arg-type]
                        last_used_step=r[17],
                    )
                )
        emails_.sort(key=lambda e: e.email_id)
        phones.sort(key=lambda p: p.phone_id)
        live.sort(key=lambda t: (t.created_at, t.totp_id))
        user = _user(
            project_id,
            row,
            now,
            emails=tuple(emails_),
            phone_numbers=tuple(phones),
            totps=tuple(TotpRef(t.totp_id, t.verified) for t in live),
        )
        return user, (live[0] if live else None)  # one live TOTP per user (a partial unique index)

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
        # In the order an authentication takes its locks (its code, its TOTP, the user, the session), so the
        # two wait for each other on PostgreSQL rather than deadlock.
        self._c.execute(delete(recovery_codes).where(recovery_codes.c.totp_id.in_(owned_totps)))
        self._c.execute(delete(totps).where(totps.c.project_id == project_id, totps.c.user_id == user_id))
        self._c.execute(delete(session_factors).where(session_factors.c.session_id.in_(owned_sessions)))
        self._c.execute(
            delete(sessions).where(sessions.c.project_id == project_id, sessions.c.user_id == user_id)
        )
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
        ts = self._b.ts
        params = {
            "pid": project_id,
            "uid": user_id,
            "now": ts(now),
            "threshold": threshold,
            "until": ts(until),
        }
        row = self._run(_COUNT_FAILURE_SQL, params).fetchone()
        return (False, None) if row is None else (True, self._b.read_ts(row[0]))

    def clear_failures(self, project_id: str, user_id: str, *, now: datetime) -> bool:
        """Reset the count and activate a pending user unless the user is locked (or gone) at ``now``;
        False when nothing changed."""
        params = {"pid": project_id, "uid": user_id, "now": self._b.ts(now)}
        return bool(self._run(_CLEAR_AFTER_SUCCESS_SQL, params).rowcount == 1)

    def unlock_user(self, project_id: str, user_id: str) -> bool:
        """Lift the user's lock, if any, and clear its failure count; False when there is no such user."""
        return bool(self._run(_UNLOCK_SQL, {"pid": project_id, "uid": user_id}).rowcount == 1)


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
