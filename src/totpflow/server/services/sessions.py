"""Sessions: creation and extension after a successful factor, ``/v1/sessions/authenticate``, ``revoke`` and
``get`` (stytch-api.md §4.9–4.11).

A session is found by the keyed hash of its token or by a session JWT whose RS256 signature verifies with
one of the project's keys. A JWT past its ``exp`` is still accepted while its session is active (§4.9);
the five-minute JWT lifetime only bounds local verification by clients. A session is active while not
revoked and not expired.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from totpflow.server import errors
from totpflow.server.crypto import HashPurpose
from totpflow.server.domain import ids, tokens
from totpflow.server.domain import jwt as session_jwt_codec
from totpflow.server.domain.models import AuthenticationFactor, AuthResult, Project, Session
from totpflow.server.services import keys, validation
from totpflow.server.services.deps import Deps
from totpflow.server.services.rbac import AuthorizationCheck, authorize
from totpflow.server.services.users import DEFAULT_ROLE, resolve_user
from totpflow.server.storage.protocol import Transaction
from totpflow.server.storage.records import SessionRow, SigningKeyRow


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """The session arguments of an authenticate call, validated. ``keys``, the project's live signing keys,
    are loaded before the transaction, or inside it (:func:`with_keys`) when this process remembers the
    project's key set and the request confirms it in its first transaction (``services.credentials``)."""

    token: str | None
    jwt: str | None
    duration_minutes: int | None
    custom_claims: Mapping[str, Any] | None
    keys: tuple[SigningKeyRow, ...]

    @property
    def wanted(self) -> bool:
        return self.token is not None or self.jwt is not None or self.duration_minutes is not None


def session_request(
    deps: Deps,
    project: Project,
    *,
    session_token: str | None,
    session_jwt: str | None,
    session_duration_minutes: int | None,
    session_custom_claims: Mapping[str, Any] | None,
    require_existing: bool = False,
) -> SessionRequest:
    """Validate session arguments; at most one of token and JWT (``require_existing``: exactly one). An
    empty token or JWT is not given (the reading of protobuf's empty string as unset that Stytch's API
    follows): a JWT-only authentication answers ``session_token: ""``, and a client that sends back the
    pair it was given must not be refused for it."""
    session_token, session_jwt = session_token or None, session_jwt or None
    if session_token is not None and session_jwt is not None:
        raise errors.TooManySessionArguments("session_token, session_jwt")
    if require_existing and session_token is None and session_jwt is None:
        raise errors.NoSessionArguments("session_token, session_jwt")
    duration = validation.session_duration(session_duration_minutes, deps.policy)
    claims = validation.custom_claims(session_custom_claims)
    request = SessionRequest(session_token, session_jwt, duration, claims, ())
    if request.wanted and not keys.confirmable(deps, project.project_id):
        request = replace(
            request, keys=tuple(keys.ensure_signing_keys(deps, project.project_id, keys.session_keys))
        )
    return request


def with_keys(deps: Deps, project: Project, request: SessionRequest) -> SessionRequest:
    """Inside the request's transaction, before it writes: the request with its keys (the set its first
    transaction confirmed, when not loaded before) and the signing key decrypted, so that signing after the
    commit cannot fail on the key."""
    if not request.wanted:
        return request
    if not request.keys:
        rows = keys.confirmed_keys(deps, project.project_id, keys.session_keys)
        if not rows:  # the key set remembered here is gone from the database: refuse, never guess
            raise errors.ServerError("the project's signing keys are not in the database")
        request = replace(request, keys=tuple(rows))
    keys.private_key(deps, request.keys[0])
    return request


def find_active_session(
    deps: Deps, tx: Transaction, project: Project, request: SessionRequest, now: datetime
) -> SessionRow:
    """The active session named by the request's token or JWT; ``SessionNotFound`` otherwise (also for a
    token or JWT longer than any this server issues, before it is hashed or decoded)."""
    row: SessionRow | None = None
    if request.token is not None and validation.session_token_fits(request.token):
        token_hash = deps.cipher.keyed_hash(HashPurpose.SESSION_TOKEN, request.token)
        row = tx.session_by_token_hash(project.project_id, token_hash)
        # The lookup is by hash; the comparison below is constant-time for form's sake and defence in depth.
        if row is not None and not deps.cipher.matches(
            HashPurpose.SESSION_TOKEN, request.token, row.token_hash
        ):
            row = None
    elif request.jwt is not None and validation.session_jwt_fits(request.jwt):
        session_id = _session_id_from_jwt(deps, project, request, now)
        row = None if session_id is None else tx.session_by_id(project.project_id, session_id)
    if row is None or row.revoked_at is not None or row.session.expires_at <= now:
        raise errors.SessionNotFound("session")
    return row


def _session_id_from_jwt(deps: Deps, project: Project, request: SessionRequest, now: datetime) -> str | None:
    assert request.jwt is not None
    try:
        kid = session_jwt_codec.unverified_kid(request.jwt)
        row = next((k for k in request.keys if k.kid == kid), None)
        if row is None:
            return None
        claims = session_jwt_codec.verify(
            request.jwt,
            keys.private_key(deps, row).public_key(),
            project_id=project.project_id,
            issuer=deps.policy.issuer(project.project_id),
            now=now,
            verify_exp=False,
        )
    except errors.InvalidJwt:
        return None
    session_id = claims[session_jwt_codec.SESSION_CLAIM]["id"]
    return session_id if isinstance(session_id, str) else None


def _as_stored(claims: dict[str, Any]) -> dict[str, Any]:
    """Custom claims as their JSON column returns them (keys become strings, tuples lists)."""
    return dict(json.loads(json.dumps(claims))) if claims else {}


def _with_factor(
    factors: tuple[AuthenticationFactor, ...], factor: AuthenticationFactor
) -> tuple[AuthenticationFactor, ...]:
    """The factors after ``Tx.upsert_factor``: one of the same type and delivery method takes the new factor's
    ids and times but keeps its ``created_at``; ordered as the store orders them (created_at, type)."""
    same = [f for f in factors if (f.type, f.delivery_method) == (factor.type, factor.delivery_method)]
    others = [f for f in factors if (f.type, f.delivery_method) != (factor.type, factor.delivery_method)]
    merged = replace(factor, created_at=same[0].created_at) if same else factor
    return tuple(sorted([*others, merged], key=lambda f: (f.created_at, f.type)))


def merge_claims(current: Mapping[str, Any], update: Mapping[str, Any] | None) -> dict[str, Any]:
    """Stytch semantics: a key given replaces the old value, a ``null`` value deletes the key, and an object
    given for an object merges into it the same way, at every level (so a ``null`` deletes there too)."""
    merged = dict(current)
    for key, value in (update or {}).items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping):
            old = merged.get(key)
            merged[key] = merge_claims(old if isinstance(old, Mapping) else {}, value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True, slots=True)
class UnsignedJwt:
    """A session JWT's claims, built in the transaction that wrote its session, and the key that signs them
    once that transaction has committed (:func:`signed`): the RS256 signature needs no lock."""

    claims: dict[str, Any]
    key: SigningKeyRow


def to_sign(
    deps: Deps, project: Project, request: SessionRequest, session: Session, now: datetime
) -> UnsignedJwt:
    claims = session_jwt_codec.session_claims(
        project_id=project.project_id,
        issuer=deps.policy.issuer(project.project_id),
        session=session,
        now=now,
        lifetime_seconds=deps.policy.jwt_lifetime_seconds,
    )
    return UnsignedJwt(claims, request.keys[0])


def signed(deps: Deps, unsigned: UnsignedJwt | None) -> str:
    """The JWT of ``unsigned`` (its key was decrypted before the transaction wrote: :func:`with_keys`); ""
    for None (no session)."""
    if unsigned is None:
        return ""
    return session_jwt_codec.sign(unsigned.claims, keys.private_key(deps, unsigned.key), unsigned.key.kid)


def attach_factor(
    deps: Deps,
    tx: Transaction,
    project: Project,
    *,
    user_id: str,
    request: SessionRequest,
    existing: SessionRow | None,
    factor_type: str,
    factor_id: str,
    roles: tuple[str, ...],
    now: datetime,
) -> tuple[Session | None, str, UnsignedJwt | None]:
    """After a successful factor: extend ``existing`` or create a session (when a duration is given) and
    add the factor. Returns (session, session_token, its JWT to sign after the commit); ``(None, "", None)``
    when no session is involved. ``roles`` are the user's, as loaded in this transaction: a new session is
    returned as inserted, with them, rather than read back."""
    factor = AuthenticationFactor(
        type="totp" if factor_type == "totp" else "recovery_codes",
        delivery_method="authenticator_app" if factor_type == "totp" else "recovery_code",
        created_at=now,
        last_authenticated_at=now,
        updated_at=now,
        totp_id=factor_id if factor_type == "totp" else None,
        totp_recovery_code_id=None if factor_type == "totp" else factor_id,
    )
    pid = project.project_id
    if existing is not None:
        if existing.session.user_id != user_id:
            raise errors.SessionNotFound("session")
        tx.upsert_factor(existing.session.session_id, factor)
        refreshed = _extend(tx, pid, existing.session, request, now, roles or (DEFAULT_ROLE,))
        refreshed = replace(
            refreshed, authentication_factors=_with_factor(refreshed.authentication_factors, factor)
        )
        return refreshed, request.token or "", to_sign(deps, project, request, refreshed, now)
    if request.duration_minutes is None:
        return None, "", None
    token = tokens.new_session_token()
    session = Session(
        session_id=ids.session_id(),
        user_id=user_id,
        started_at=now,
        last_accessed_at=now,
        expires_at=now + timedelta(minutes=request.duration_minutes),
        authentication_factors=(factor,),
        roles=roles or (DEFAULT_ROLE,),
        custom_claims=merge_claims({}, request.custom_claims),
    )
    tx.insert_session(pid, session, deps.cipher.keyed_hash(HashPurpose.SESSION_TOKEN, token))
    tx.upsert_factor(session.session_id, factor)
    session = replace(session, custom_claims=_as_stored(session.custom_claims))
    return session, token, to_sign(deps, project, request, session, now)


def _extend(
    tx: Transaction,
    project_id: str,
    session: Session,
    request: SessionRequest,
    now: datetime,
    roles: tuple[str, ...],
) -> Session:
    """Touch a session read in this transaction: ``last_accessed_at``, its roles (the user's, as of this
    authentication), and the expiry and custom claims when the request sets them. Returns the session as
    written, not read back; ``SessionNotFound`` when a revocation committed since it was read (the whole
    authentication then fails: nothing extends, or is minted for, a revoked session)."""
    expires_at = (
        None if request.duration_minutes is None else now + timedelta(minutes=request.duration_minutes)
    )
    claims = None
    if request.custom_claims is not None:
        # Merged into the claims as committed, under the row's lock: another request may have merged its own
        # since this one read the session, and neither may be lost.
        current = tx.session_claims_for_update(project_id, session.session_id)
        if current is None:
            raise errors.SessionNotFound("session")
        session = replace(session, custom_claims=current)
        claims = merge_claims(current, request.custom_claims)
        # the request was checked alone: the 4 KB bound is on what the JWT will carry
        session_jwt_codec.check_custom_claims(claims)
    touched = tx.update_session(
        project_id,
        session.session_id,
        last_accessed_at=now,
        expires_at=expires_at,
        custom_claims=claims,
        roles=None if roles == session.roles else roles,
    )
    if not touched:
        raise errors.SessionNotFound("session")
    return replace(
        session,
        roles=roles,
        last_accessed_at=now,
        expires_at=session.expires_at if expires_at is None else expires_at,
        custom_claims=session.custom_claims if claims is None else _as_stored(claims),
    )


def authenticate_session(
    deps: Deps,
    project: Project,
    *,
    session_token: str | None = None,
    session_jwt: str | None = None,
    session_duration_minutes: int | None = None,
    session_custom_claims: Mapping[str, Any] | None = None,
    authorization_check: AuthorizationCheck | None = None,
) -> AuthResult:
    """Check a session, update ``last_accessed_at`` and its roles (and expiry/claims when asked) and return a
    fresh JWT.

    Only a hash of each token is stored, so a session authenticated by JWT comes back with
    ``session_token=""``. With ``authorization_check``, some role the user holds must grant the action on
    the resource under the project's policy; otherwise ``SessionAuthorizationError`` (the session's refresh,
    ``last_accessed_at`` and roles, is kept: the session stays valid, the request is only not authorized;
    what the request asked to change, the expiry and the custom claims, is not, as a refused request
    changes nothing it asked for). A control character in the check is ``InvalidArgument``, before the
    session is looked for.
    """
    if authorization_check is not None:
        validation.authorization_check(authorization_check.resource_id, authorization_check.action)
    request = session_request(
        deps,
        project,
        session_token=session_token,
        session_jwt=session_jwt,
        session_duration_minutes=session_duration_minutes,
        session_custom_claims=session_custom_claims,
        require_existing=True,
    )
    now = deps.now()
    with deps.store.transaction() as tx:
        request = with_keys(deps, project, request)
        row = find_active_session(deps, tx, project, request, now)
        user = tx.get_user(project.project_id, row.session.user_id, now)
        if user is None:
            raise errors.SessionNotFound("session")
        roles = user.roles or (DEFAULT_ROLE,)
        granting = (
            None
            if authorization_check is None
            else tuple(authorize(tx, project.project_id, roles, authorization_check))
        )
        denied = granting is not None and not granting
        if denied:
            request = replace(request, duration_minutes=None, custom_claims=None)
        refreshed = _extend(tx, project.project_id, row.session, request, now, roles)
        unsigned = None if denied else to_sign(deps, project, request, refreshed, now)
    if unsigned is None:
        raise errors.SessionAuthorizationError("authorization_check")
    jwt_text = signed(deps, unsigned)
    return AuthResult(
        user=user,
        session=refreshed,
        session_token=session_token or "",
        session_jwt=jwt_text,
        granting_roles=granting,
    )


def revoke_session(
    deps: Deps,
    project: Project,
    *,
    session_id: str | None = None,
    session_token: str | None = None,
    session_jwt: str | None = None,
) -> None:
    """Revoke one session named by exactly one of id, token or JWT (an expired JWT still names its
    session). An empty id, token or JWT is not given (see :func:`session_request`). An id, token or JWT
    longer than any this server issues is ``SessionNotFound`` without a lookup (``validation``)."""
    session_id, session_token, session_jwt = session_id or None, session_token or None, session_jwt or None
    given = [v for v in (session_id, session_token, session_jwt) if v is not None]
    if not given:
        raise errors.NoSessionRevokeArguments("session_id, session_token, session_jwt")
    if len(given) > 1:
        raise errors.TooManySessionRevokeArguments("session_id, session_token, session_jwt")
    if session_id is not None and not validation.session_id_fits(session_id):
        raise errors.SessionNotFound("session_id")
    if session_jwt is not None and not validation.session_jwt_fits(session_jwt):
        raise errors.SessionNotFound("session")  # as find_active_session, without loading the keys first
    now = deps.now()
    request = SessionRequest(
        session_token,
        session_jwt,
        None,
        None,
        tuple(keys.ensure_signing_keys(deps, project.project_id, keys.session_keys))
        if session_jwt is not None
        else (),
    )
    with deps.store.transaction() as tx:
        if session_id is not None:
            row = tx.session_by_id(project.project_id, session_id)
            if row is None or row.revoked_at is not None or row.session.expires_at <= now:
                raise errors.SessionNotFound("session_id")
        else:
            row = find_active_session(deps, tx, project, request, now)
        if not tx.revoke_session(project.project_id, row.session.session_id, now):
            raise errors.SessionNotFound("session")


def get_sessions(deps: Deps, project: Project, *, user_id: str) -> list[Session]:
    """The user's active sessions (stytch-api.md §4.11)."""
    now = deps.now()
    with deps.store.transaction(readonly=True) as tx:
        uid = resolve_user(tx, project, user_id)
        return tx.active_sessions(project.project_id, uid, now)
