"""TOTP enrolment and authentication, recovery codes (stytch-api.md §4.4–4.7, §6).

* One live TOTP per user; an unverified one still inside its ``expiration_minutes`` counts as active, an
  expired unverified one is replaced. The database's partial unique index settles concurrent creates.
* ``authenticate`` accepts the previous, current and next 30 s step (RFC 6238 §5.2). A step not newer than the
  last accepted one is a replay (``TotpCodeAlreadyAuthenticated``), refused by one conditional UPDATE so
  that of any number of concurrent requests with one valid code exactly one succeeds.
* Failures (wrong TOTP code, unknown or used recovery code) count towards the user lock, and a success while
  unlocked resets the count (``totpflow.server.lockout``).
* The first success verifies the TOTP and activates a pending user. Recovery codes back up a verified TOTP:
  until then ``recover`` refuses them (``NoActiveRecoveryCodeBackedFactor``), so an enrolment never
  confirmed gives no way in (a decision: Stytch documents the error type, not when it is returned).
* Before any of this, each attempt counts against the per-user and per-project rate limits
  (``totpflow.server.rate_limits``); past either, 429 ``too_many_requests``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from totpflow.server import crypto, errors, lockout, rate_limits
from totpflow.server.crypto import HashPurpose
from totpflow.server.domain import ids, qr, recovery, totp
from totpflow.server.domain.models import AuthResult, Project, TotpCreated, TotpRecoveryCodes, TotpRef, User
from totpflow.server.services import validation
from totpflow.server.services.deps import Deps
from totpflow.server.services.sessions import (
    SessionRequest,
    UnsignedJwt,
    attach_factor,
    find_active_session,
    session_request,
    signed,
    with_keys,
)
from totpflow.server.services.users import load_user, load_user_with_totp
from totpflow.server.storage.protocol import Transaction
from totpflow.server.storage.records import RecoveryCodeRow, SessionRow, TotpRow


def _recovery_rows(
    deps: Deps, project_id: str, user_id: str, totp_id: str, codes: tuple[str, ...]
) -> list[RecoveryCodeRow]:
    """The stored form of new recovery codes: each encrypted under, and hashed with, its owners."""
    rows = []
    for code in codes:
        rid = ids.recovery_code_id()
        hash_input = crypto.recovery_code_hash_input(project_id, user_id, totp_id, code)
        rows.append(
            RecoveryCodeRow(
                recovery_code_id=rid,
                totp_id=totp_id,
                code_enc=deps.cipher.encrypt_text(
                    code, crypto.recovery_code_binding(project_id, user_id, totp_id, rid)
                ),
                code_hash=deps.cipher.keyed_hash(HashPurpose.RECOVERY_CODE, hash_input),
                used_at=None,
            )
        )
    return rows


def _totp_key(deps: Deps, project: Project, user_id: str, row: TotpRow) -> bytes:
    """The TOTP's secret, decrypted under its binding to this project, user and TOTP: a row re-pointed at
    another user fails here (``IntegrityFailure``), before any code is judged."""
    binding = crypto.totp_secret_binding(project.project_id, user_id, row.totp_id)
    return totp.decode_secret(crypto.open_bound(deps.cipher, row.secret_enc, binding).decode("utf-8"))


def _account_label(user: User) -> str:
    if user.emails:
        return user.emails[0].email
    if user.phone_numbers:
        return user.phone_numbers[0].phone_number
    return user.user_id


def create_totp(
    deps: Deps, project: Project, *, user_id: str, expiration_minutes: int | None = None
) -> TotpCreated:
    """Enrol a new authenticator: secret, otpauth QR code and 10 recovery codes (all returned only here)."""
    minutes = validation.expiration_minutes(expiration_minutes, deps.policy)
    now = deps.now()
    totp_id = ids.totp_id()
    secret = totp.new_secret()
    codes = recovery.new_codes()
    pid = project.project_id
    with deps.store.transaction() as tx:
        user = load_user(tx, project, user_id, now)
        uid = user.user_id
        if any(not t.verified for t in user.totps):  # only an unverified TOTP can have expired
            tx.retire_expired_totp(project.project_id, user.user_id, now)
        tx.insert_totp(
            project.project_id,
            TotpRow(
                totp_id=totp_id,
                user_id=user.user_id,
                secret_enc=deps.cipher.encrypt_text(secret, crypto.totp_secret_binding(pid, uid, totp_id)),
                verified=False,
                created_at=now,
                expires_at=now + timedelta(minutes=minutes),
                last_used_step=None,
            ),
        )
        tx.insert_recovery_codes(pid, _recovery_rows(deps, pid, uid, totp_id, tuple(codes)))
    # The insert succeeded, so the partial unique index guarantees the new TOTP is the user's only live one.
    user = replace(user, totps=(TotpRef(totp_id, verified=False),))
    uri = qr.otpauth_uri(issuer=project.name, account=_account_label(user), secret=secret)
    return TotpCreated(
        totp_id=totp_id, secret=secret, qr_code=qr.qr_data_uri(uri), recovery_codes=codes, user=user
    )


def _live_totp(row: TotpRow | None, now: datetime) -> TotpRow:
    if row is None:
        raise errors.TotpNotFound("user_id")
    if not row.verified and row.expires_at <= now:
        raise errors.ExpiredTotp("totp")
    return row


def _gone(tx: Transaction, project: Project, user_id: str, totp_id: str) -> errors.ServerError | None:
    """After a code was not accepted: ``UserNotFound`` or ``TotpNotFound`` when the user or its TOTP was
    deleted since they were read (PostgreSQL: a deletion that committed meanwhile), else None (the code was
    wrong, or used)."""
    if tx.resolve_user_id(project.project_id, user_id) is None:
        return errors.UserNotFound("user_id")
    if not tx.totp_is_live(project.project_id, totp_id):
        return errors.TotpNotFound("user_id")
    return None


def _existing_session(
    deps: Deps, tx: Transaction, project: Project, request: SessionRequest, now: datetime
) -> SessionRow | None:
    if request.token is None and request.jwt is None:
        return None
    return find_active_session(deps, tx, project, request, now)


def _succeed(
    deps: Deps,
    tx: Transaction,
    project: Project,
    *,
    user: User,
    request: SessionRequest,
    existing: SessionRow | None,
    factor_type: str,
    factor_id: str,
    totp_id: str,
    verified_totp_id: str | None,
    now: datetime,
) -> tuple[AuthResult, UnsignedJwt | None]:
    """Reset the failure count, activate a pending user, attach the factor to a session; the returned user
    is ``user`` (loaded in this transaction, unlocked) with those changes, not read back. The result's
    ``session_jwt`` is filled once the transaction has committed, from the returned ``UnsignedJwt``."""
    lockout.clear_after_success(tx, project.project_id, user.user_id, now=now)
    session, token, unsigned = attach_factor(
        deps,
        tx,
        project,
        user_id=user.user_id,
        request=request,
        existing=existing,
        factor_type=factor_type,
        factor_id=factor_id,
        roles=user.roles,
        now=now,
    )
    verified = tuple(TotpRef(t.totp_id, True) if t.totp_id == verified_totp_id else t for t in user.totps)
    fresh = replace(user, status="active", totps=verified)
    result = AuthResult(user=fresh, session=session, session_token=token, session_jwt="", totp_id=totp_id)
    return result, unsigned


def authenticate_totp(
    deps: Deps,
    project: Project,
    *,
    user_id: str,
    totp_code: str,
    session_token: str | None = None,
    session_jwt: str | None = None,
    session_duration_minutes: int | None = None,
    session_custom_claims: Mapping[str, Any] | None = None,
) -> AuthResult:
    if recovery.is_well_formed(totp_code):
        raise errors.RecoveryCodeUsedAsTotpCode("totp_code", "a recovery code")
    validation.totp_code(totp_code)
    rate_limits.check(deps, project, user_id)
    request = session_request(
        deps,
        project,
        session_token=session_token,
        session_jwt=session_jwt,
        session_duration_minutes=session_duration_minutes,
        session_custom_claims=session_custom_claims,
    )
    clock_time = deps.clock()
    now = clock_time.replace(microsecond=0)
    succeeded: tuple[AuthResult, UnsignedJwt | None] | None = None
    with deps.store.transaction(durable=True) as tx:  # the consumed step survives a power cut
        request = with_keys(deps, project, request)
        user, live = load_user_with_totp(tx, project, user_id, now)
        lockout.refuse_if_locked(user)
        row = _live_totp(live, now)
        existing = _existing_session(deps, tx, project, request, now)
        key = _totp_key(deps, project, user.user_id, row)
        step = totp.verify(key, totp_code, clock_time.timestamp(), window=deps.policy.totp_window)
        if step is None:  # counted before the transaction ends: see lockout, rule 3
            outcome = lockout.count_failure(tx, deps.policy, project.project_id, user.user_id, now)
        else:
            if row.last_used_step is not None and step <= row.last_used_step:
                raise errors.TotpCodeAlreadyAuthenticated("totp_code")
            if not tx.consume_totp_step(project.project_id, row.totp_id, step):  # also verifies the TOTP
                raise _gone(tx, project, user.user_id, row.totp_id) or errors.TotpCodeAlreadyAuthenticated(
                    "totp_code"
                )
            succeeded = _succeed(
                deps,
                tx,
                project,
                user=user,
                request=request,
                existing=existing,
                factor_type="totp",
                factor_id=row.totp_id,
                totp_id=row.totp_id,
                verified_totp_id=row.totp_id,
                now=now,
            )
    if succeeded is not None:
        result, unsigned = succeeded
        return replace(result, session_jwt=signed(deps, unsigned))
    raise lockout.failure_error(outcome, errors.UnableToAuthenticateTotp("totp_code"))


def get_recovery_codes(deps: Deps, project: Project, *, user_id: str) -> tuple[User, list[TotpRecoveryCodes]]:
    """The user's live TOTP with its unused recovery codes (decrypted); an unverified TOTP past its
    expiration is ``ExpiredTotp``, as for authenticate and recover (its codes can never be used)."""
    now = deps.now()
    with deps.store.transaction(readonly=True) as tx:
        user, found = load_user_with_totp(tx, project, user_id, now)
        row = _live_totp(found, now)
        codes = tx.recovery_codes(project.project_id, row.totp_id, unused_only=True)
    plain = tuple(
        crypto.open_bound(
            deps.cipher,
            c.code_enc,
            crypto.recovery_code_binding(project.project_id, user.user_id, row.totp_id, c.recovery_code_id),
        ).decode("utf-8")
        for c in codes
    )
    return user, [TotpRecoveryCodes(totp_id=row.totp_id, verified=row.verified, recovery_codes=plain)]


def recover(
    deps: Deps,
    project: Project,
    *,
    user_id: str,
    recovery_code: str,
    session_token: str | None = None,
    session_jwt: str | None = None,
    session_duration_minutes: int | None = None,
    session_custom_claims: Mapping[str, Any] | None = None,
) -> AuthResult:
    """Authenticate with a single-use recovery code, found through its keyed hash."""
    if validation.TOTP_CODE.fullmatch(recovery_code) is not None:
        raise errors.TotpCodeUsedAsRecoveryCode("recovery_code", "a TOTP code")
    if not recovery.is_well_formed(recovery_code):
        raise errors.InvalidRecoveryCode("recovery_code", "must look like xxxx-xxxx-xxxx")
    rate_limits.check(deps, project, user_id)
    request = session_request(
        deps,
        project,
        session_token=session_token,
        session_jwt=session_jwt,
        session_duration_minutes=session_duration_minutes,
        session_custom_claims=session_custom_claims,
    )
    now = deps.now()
    succeeded: tuple[AuthResult, UnsignedJwt | None] | None = None
    with deps.store.transaction(durable=True) as tx:  # so does the used code
        request = with_keys(deps, project, request)
        user, live = load_user_with_totp(tx, project, user_id, now)
        uid = user.user_id
        lockout.refuse_if_locked(user)
        row = _live_totp(live, now)
        if not row.verified:  # codes back up an enrolled factor; an unconfirmed enrolment has none yet
            raise errors.NoActiveRecoveryCodeBackedFactor("recovery_code")
        existing = _existing_session(deps, tx, project, request, now)
        _totp_key(deps, project, uid, row)  # the TOTP must still be this user's: fail closed if it was moved
        hash_input = crypto.recovery_code_hash_input(project.project_id, uid, row.totp_id, recovery_code)
        code_row = tx.find_recovery_code(
            project.project_id, row.totp_id, deps.cipher.keyed_hash(HashPurpose.RECOVERY_CODE, hash_input)
        )
        if not (
            code_row is not None
            and deps.cipher.matches(HashPurpose.RECOVERY_CODE, hash_input, code_row.code_hash)
            and tx.use_recovery_code(project.project_id, code_row.totp_id, code_row.recovery_code_id, now)
        ):  # counted before the transaction ends: see lockout, rule 3
            gone = _gone(tx, project, uid, row.totp_id)
            if gone is not None:  # its codes went with it: no attempt of the user's to count
                raise gone
            outcome = lockout.count_failure(tx, deps.policy, project.project_id, uid, now)
        else:
            succeeded = _succeed(
                deps,
                tx,
                project,
                user=user,
                request=request,
                existing=existing,
                factor_type="recovery_codes",
                factor_id=code_row.recovery_code_id,
                totp_id=row.totp_id,
                verified_totp_id=None,
                now=now,
            )
    if succeeded is not None:
        result, unsigned = succeeded
        return replace(result, session_jwt=signed(deps, unsigned))
    raise lockout.failure_error(outcome, errors.UnableToAuthenticateRecoveryCode("recovery_code"))
