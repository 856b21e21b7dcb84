"""Users: create, get, update, delete, and deleting a user's TOTP (stytch-api.md §4.1–4.3, §4.8;
stytch-rbac-users-sessions.md §2). Search is ``user_search``."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from totpflow.server import errors
from totpflow.server.domain import ids, metadata
from totpflow.server.domain.models import Email, Name, NameUpdate, PhoneNumber, Project, User
from totpflow.server.services import validation
from totpflow.server.services.deps import Deps
from totpflow.server.storage.protocol import Transaction
from totpflow.server.storage.records import NewUser, TotpRow, UserChanges

DEFAULT_ROLE = "stytch_user"
NameT = TypeVar("NameT", Name, NameUpdate)


def resolve_user(tx: Transaction, project: Project, user_id: str) -> str:
    """The user_id of the project's user named by ``user_id`` (its id or its external id).

    A value that is neither a well-formed user id nor a well-formed external id is ``InvalidUserId``; a
    well-formed one that names nobody in this project is ``UserNotFound``.
    """
    found = tx.resolve_user_id(project.project_id, user_id) if _may_name(user_id) else None
    if found is not None:
        return found
    raise _named_nobody(user_id)


def load_user(tx: Transaction, project: Project, user_id: str, now: datetime) -> User:
    """The project's user named by ``user_id`` (its id or its external id); errors as :func:`resolve_user`."""
    return load_user_with_totp(tx, project, user_id, now)[0]


def load_user_with_totp(
    tx: Transaction, project: Project, user_id: str, now: datetime
) -> tuple[User, TotpRow | None]:
    """As :func:`load_user`, with the stored row of the user's live TOTP (read in the same statement)."""
    found = tx.find_user_with_totp(project.project_id, user_id, now) if _may_name(user_id) else None
    if found is not None:
        return found
    raise _named_nobody(user_id)


def _may_name(user_id: str) -> bool:
    """Whether ``user_id`` is worth looking up: not empty, and no longer than an id or an external id may be
    (a longer one is refused before the database is asked)."""
    return 0 < len(user_id) <= validation.USER_ID_LENGTH


def _named_nobody(user_id: str) -> errors.ServerError:
    """Why ``user_id`` found no user: ``InvalidUserId`` for a value of neither an id's nor an external id's
    form, else ``UserNotFound``."""
    if ids.USER_ID.fullmatch(user_id) is None and validation.EXTERNAL_ID.fullmatch(user_id) is None:
        return errors.InvalidUserId("user_id", "format is invalid")
    return errors.UserNotFound("user_id")


def create_user(
    deps: Deps,
    project: Project,
    *,
    email: str | None = None,
    phone_number: str | None = None,
    name: Name | None = None,
    attributes: Mapping[str, Any] | None = None,
    create_user_as_pending: bool = False,
    trusted_metadata: Mapping[str, Any] | None = None,
    untrusted_metadata: Mapping[str, Any] | None = None,
    external_id: str | None = None,
    roles: Sequence[str] | None = None,
) -> User:
    """Create a user with an email and/or a phone number ("An email or a phone_number is required").

    ``attributes`` (ip address, user agent of the request) are accepted for compatibility and not stored.
    Uniqueness of email, phone number and external id per project is enforced by constraints.
    """
    validation.attributes(attributes)
    del attributes
    if email is None and phone_number is None:
        raise errors.EmailOrPhoneRequired("email", "an email or a phone_number is required")
    now = deps.now()
    new = NewUser(
        user_id=ids.user_id(),
        status="pending" if create_user_as_pending else "active",
        created_at=now,
        name=None if name is None else checked_name(name),
        trusted_metadata=metadata.check("trusted_metadata", trusted_metadata or {}),
        untrusted_metadata=metadata.check("untrusted_metadata", untrusted_metadata or {}),
        external_id=None if external_id is None else validation.external_id(external_id),
        roles=user_roles(roles),
        email=None if email is None else Email(ids.email_id(), validation.email(email), False),
        phone_number=None
        if phone_number is None
        else PhoneNumber(ids.phone_id(), validation.phone_number(phone_number), False),
    )
    with deps.store.transaction() as tx:
        tx.insert_user(project.project_id, new)
    return created_user(project, new)


def checked_name(name: NameT) -> NameT:
    """``name`` (a :class:`Name` or a :class:`NameUpdate`) with each part given within its limit."""
    validation.name_part("name.first_name", name.first_name)
    validation.name_part("name.middle_name", name.middle_name)
    validation.name_part("name.last_name", name.last_name)
    return name


def user_roles(explicit: Sequence[str] | None) -> tuple[str, ...]:
    """A user's roles: the implicit ``stytch_user`` and then the explicitly assigned ones, each once.
    ``EmptyRoleId`` (Stytch's ``empty_rbac_role_id``), ``InvalidRoleId``, ``RoleIdTooLong`` and
    ``TooManyRoles`` as :func:`validation.role_ids` finds. Only roles given are checked: one stored before
    a rule refused it is read and kept as it is."""
    validation.role_ids(explicit or ())
    return (DEFAULT_ROLE, *dict.fromkeys(r for r in explicit or () if r != DEFAULT_ROLE))


def _as_stored(value: dict[str, Any]) -> dict[str, Any]:
    """Metadata as a JSON column returns it (keys become strings, tuples lists)."""
    return dict(json.loads(json.dumps(value))) if value else {}


def created_user(project: Project, new: NewUser) -> User:
    """The user just inserted from ``new``, as reading it back would return it (nothing else can have
    changed a row created in the same transaction), without reading it back."""
    return User(
        project_id=project.project_id,
        user_id=new.user_id,
        status="pending" if new.status == "pending" else "active",
        created_at=new.created_at,
        emails=() if new.email is None else (new.email,),
        phone_numbers=() if new.phone_number is None else (new.phone_number,),
        totps=(),
        name=new.name,
        trusted_metadata=_as_stored(new.trusted_metadata),
        untrusted_metadata=_as_stored(new.untrusted_metadata),
        external_id=new.external_id,
        roles=new.roles,
    )


def update_user(
    deps: Deps,
    project: Project,
    user_id: str,
    *,
    name: NameUpdate | None = None,
    attributes: Mapping[str, Any] | None = None,
    trusted_metadata: Mapping[str, Any] | None = None,
    untrusted_metadata: Mapping[str, Any] | None = None,
    external_id: str | None = None,
    roles: Sequence[str] | None = None,
) -> User:
    """``PUT /v1/users/{user_id}`` (the id or the external id): change what is given, keep the rest.

    ``name``: the parts given replace the stored ones, the others are kept. Metadata: a top-level merge
    where ``None`` deletes a key, then Stytch's limits on the result. ``roles`` replaces the explicitly
    assigned roles (``stytch_user`` stays). ``external_id`` stays unique per project
    (``DuplicateExternalId``); ``""`` removes it. ``attributes`` are accepted for compatibility and not
    stored. The user's row is locked for the read-merge-write, so concurrent updates of one user never lose
    each other's keys.
    """
    validation.attributes(attributes)
    del attributes
    if name is not None:
        checked_name(name)
    clear_external_id = external_id == ""
    new_external_id = (
        None if external_id is None or clear_external_id else validation.external_id(external_id)
    )
    now = deps.now()
    with deps.store.transaction() as tx:
        uid = resolve_user(tx, project, user_id)
        current = tx.get_user(project.project_id, uid, now, for_update=True)
        if current is None:  # deleted since it was resolved (PostgreSQL: before the row lock was taken)
            raise errors.UserNotFound("user_id")
        changes = UserChanges(
            name=None if name is None else name.applied_to(current.name or Name()),
            trusted_metadata=None
            if trusted_metadata is None
            else metadata.merge("trusted_metadata", current.trusted_metadata, trusted_metadata),
            untrusted_metadata=None
            if untrusted_metadata is None
            else metadata.merge("untrusted_metadata", current.untrusted_metadata, untrusted_metadata),
            external_id=new_external_id,
            clear_external_id=clear_external_id,
            roles=None if roles is None else user_roles(roles),
        )
        tx.update_user(project.project_id, uid, changes)
        updated = tx.get_user(project.project_id, uid, now)
    assert updated is not None  # the row lock keeps it from a concurrent delete
    return updated


def get_user(deps: Deps, project: Project, user_id: str) -> User:
    with deps.store.transaction(readonly=True) as tx:
        return load_user(tx, project, user_id, deps.now())


def delete_user(deps: Deps, project: Project, user_id: str) -> str:
    """Delete the user with its emails, phone numbers, TOTPs, recovery codes and sessions (which thereby stop
    authenticating). Returns the user_id."""
    with deps.store.transaction() as tx:
        uid = resolve_user(tx, project, user_id)
        tx.delete_user(project.project_id, uid)
    return uid


def delete_totp(deps: Deps, project: Project, totp_id: str) -> User:
    """Delete a TOTP and its recovery codes; the user may then create a new one (stytch-api.md §4.8)."""
    validation.totp_id(totp_id)
    now = deps.now()
    with deps.store.transaction() as tx:
        uid = tx.delete_totp(project.project_id, totp_id)
        if uid is None:
            raise errors.TotpNotFound("totp_id")
        user = tx.get_user(project.project_id, uid, now)
        if user is None:  # the user was deleted meanwhile (PostgreSQL), and its TOTPs with it
            raise errors.TotpNotFound("totp_id")
    return user
