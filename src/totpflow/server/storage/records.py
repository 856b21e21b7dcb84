"""Rows the store hands to services that carry stored (encrypted or hashed) material. Domain records
never do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from totpflow.server.domain.models import Project, Session


@dataclass(frozen=True, slots=True)
class ProjectRow:
    project: Project
    secret_hash: bytes


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
