"""Rows the store hands to services: those that carry stored (encrypted or hashed) material, which domain
records never do, and the summaries of the operator commands (which hold nothing secret)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from totpflow.server.domain.models import Email, Name, PhoneNumber, Project, Session


@dataclass(frozen=True, slots=True)
class ProjectRow:
    project: Project
    secret_hash: bytes


@dataclass(frozen=True, slots=True)
class EncryptedSample:
    """One value the store holds encrypted: a signing key (owners: project, kid) or a TOTP secret (owners:
    project, user, TOTP), to tell whether a master key opens the store."""

    kind: Literal["signing-key", "totp-secret"]
    owners: tuple[str, ...]
    ciphertext: bytes


@dataclass(frozen=True, slots=True)
class ProjectState:
    """What a request confirms of its project: the HMAC of its secret, its name and the highest generation of
    its signing keys (0: none yet). Signing keys change only by the insert of a new generation (a rollover
    stamps the older keys in that same transaction), so the generation versions the project's key set."""

    secret_hash: bytes
    name: str
    key_generation: int


@dataclass(frozen=True, slots=True)
class SigningKeyRow:
    project_id: str
    kid: str
    private_key_enc: bytes
    public_jwk: dict[str, Any]
    generation: int = 0
    superseded_at: datetime | None = None  # when the next generation takes over signing (may be ahead)
    created_at: datetime | None = None  # when it was published


@dataclass(frozen=True, slots=True)
class TotpRow:
    totp_id: str
    user_id: str
    secret_enc: bytes
    verified: bool
    created_at: datetime
    expires_at: datetime
    last_used_step: int | None


@dataclass(frozen=True, slots=True)
class RecoveryCodeRow:
    recovery_code_id: str
    totp_id: str
    code_enc: bytes
    code_hash: bytes
    used_at: datetime | None


@dataclass(frozen=True, slots=True)
class SessionRow:
    session: Session
    token_hash: bytes
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """One operand of ``/v1/users/search``, already validated by the service."""

    name: str
    values: tuple[Any, ...]


TotpState = Literal["none", "pending", "verified"]


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    project_id: str
    name: str
    created_at: datetime
    users: int


@dataclass(frozen=True, slots=True)
class UserSummary:
    project_id: str
    user_id: str
    status: str
    created_at: datetime
    emails: tuple[str, ...]
    totp: TotpState
    failed_attempts: int
    lock_expires_at: datetime | None  # as stored: a lock that has ended still has its expiry here


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


Hit = tuple[str, str, int, int]  # a rate-limit counter: project_id, bucket, window start, window end (Unix s)


class UserHit(NamedTuple):
    """A hit on the counter of the user ``user_ref`` names in the project (by its id or its external id),
    resolved by the statement that counts it; on ``bucket`` when it names nobody."""

    project_id: str
    user_ref: str
    bucket: str
    window: int
    end: int
