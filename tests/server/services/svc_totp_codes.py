"""Small helpers for service tests: the current TOTP code of a created authenticator, and an authenticator
confirmed by its first code (whose recovery codes can be used)."""

from __future__ import annotations

from datetime import datetime

from totpflow.server import services
from totpflow.server.domain import totp
from totpflow.server.domain.models import Project, TotpCreated


def code_for(secret: str, at: datetime, offset_steps: int = 0) -> str:
    return totp.code_at(totp.decode_secret(secret), at.timestamp() + 30 * offset_steps)


def wrong_code(secret: str, at: datetime) -> str:
    """A 6-digit code that matches none of the accepted steps."""
    valid = {code_for(secret, at, d) for d in (-1, 0, 1)}
    return next(c for c in (f"{n:06d}" for n in range(1_000_000)) if c not in valid)


def confirmed_totp(deps: services.Deps, project: Project, user_id: str, at: datetime) -> TotpCreated:
    """A new TOTP of ``user_id``, confirmed with its code at ``at`` (the first authentication)."""
    created = services.create_totp(deps, project, user_id=user_id)
    services.authenticate_totp(deps, project, user_id=user_id, totp_code=code_for(created.secret, at))
    return created
