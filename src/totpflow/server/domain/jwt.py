"""Session JWTs in Stytch's shape (stytch-api.md §3.3): RS256 with a ``kid`` header, ``aud=[project_id]``,
``iss="stytch.com/{project_id}"``, ``sub=user_id``, ``iat=nbf=now``, ``exp=now+lifetime`` (five minutes)
and the session in the claim ``https://stytch.com/session``. Custom claims are top-level claims (RFC 7519
§4.3 private claim names); the registered names (RFC 7519 §4.1) and the session claim are refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from totpflow.server.domain.models import AuthenticationFactor, Session
from totpflow.server.domain.nesting import MAX_DEPTH, deeper_than
from totpflow.server.errors import (
    CustomClaimsTooLarge,
    InvalidCustomClaims,
    InvalidJwt,
    StytchClaimsInCustomClaims,
    UnrepresentableCustomClaims,
)

SESSION_CLAIM = "https://stytch.com/session"
STYTCH_CLAIM_PREFIX = "https://stytch.com/"
REGISTERED_CLAIMS = frozenset({"aud", "exp", "iat", "iss", "jti", "nbf", "sub"})  # RFC 7519 §4.1
MAX_CUSTOM_CLAIMS_BYTES = (
    4096  # Stytch SDK docstring: "total custom claims size cannot exceed four kilobytes"
)


def _utc(moment: datetime) -> str:
    """Second-precision UTC with ``Z``, the format of every timestamp in Stytch's API."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_custom_claims(claims: Mapping[str, Any]) -> None:
    """Refuse registered claim names (``reserved_claims_in_custom_claims``), names under
    ``https://stytch.com/`` (``stytch_claims_in_custom_claims``), claims that are not JSON and claims larger
    than 4,096 bytes once serialised compactly as UTF-8 (``custom_claims_too_large``)."""
    registered = sorted(REGISTERED_CLAIMS.intersection(claims))
    if registered:
        raise InvalidCustomClaims("session_custom_claims", "reserved claim names: " + ", ".join(registered))
    if any(str(name).startswith(STYTCH_CLAIM_PREFIX) for name in claims):
        raise StytchClaimsInCustomClaims("session_custom_claims", "names under https://stytch.com/")
    if deeper_than(claims):
        raise UnrepresentableCustomClaims(
            "session_custom_claims", f"nested more than {MAX_DEPTH} levels deep"
        )
    try:
        size = len(json.dumps(dict(claims), separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    except (TypeError, ValueError) as exc:
        raise UnrepresentableCustomClaims("session_custom_claims", "not representable as JSON") from exc
    if size > MAX_CUSTOM_CLAIMS_BYTES:
        raise CustomClaimsTooLarge("session_custom_claims", "larger than 4,096 bytes")


def factor_claim(factor: AuthenticationFactor) -> dict[str, Any]:
    """One authentication factor as Stytch serialises it (stytch-api.md §3.2)."""
    out: dict[str, Any] = {
        "type": factor.type,
        "delivery_method": factor.delivery_method,
        "last_authenticated_at": _utc(factor.last_authenticated_at),
        "created_at": _utc(factor.created_at),
        "updated_at": _utc(factor.updated_at),
    }
    if factor.totp_id is not None:
        out["authenticator_app_factor"] = {"totp_id": factor.totp_id}
    if factor.totp_recovery_code_id is not None:
        out["recovery_code_factor"] = {"totp_recovery_code_id": factor.totp_recovery_code_id}
    return out


def session_claims(
    *, project_id: str, issuer: str, session: Session, now: datetime, lifetime_seconds: int
) -> dict[str, Any]:
    """The full claim set of a session JWT; custom claims are merged in at top level."""
    iat = int(now.timestamp())
    claims: dict[str, Any] = dict(session.custom_claims)
    claims.update(
        {
            "aud": [project_id],
            "iss": issuer,
            "sub": session.user_id,
            "iat": iat,
            "nbf": iat,
            "exp": iat + lifetime_seconds,
            SESSION_CLAIM: {
                "id": session.session_id,
                "started_at": _utc(session.started_at),
                "last_accessed_at": _utc(session.last_accessed_at),
                "expires_at": _utc(session.expires_at),
                "attributes": dict(session.attributes),
                "authentication_factors": [factor_claim(f) for f in session.authentication_factors],
                "roles": list(session.roles),
            },
        }
    )
    return claims


def sign(claims: Mapping[str, Any], private_key: RSAPrivateKey, kid: str) -> str:
    return pyjwt.encode(dict(claims), private_key, algorithm="RS256", headers={"kid": kid})


def unverified_kid(token: str) -> str:
    """The ``kid`` header, read before verification only to pick the key."""
    try:
        kid = pyjwt.get_unverified_header(token).get("kid")
    except pyjwt.PyJWTError as exc:
        raise InvalidJwt("malformed token") from exc
    if not isinstance(kid, str):
        raise InvalidJwt("no kid header")
    return kid


def verify(
    token: str,
    public_key: RSAPublicKey,
    *,
    project_id: str,
    issuer: str,
    now: datetime,
    verify_exp: bool = True,
) -> dict[str, Any]:
    """Verify signature, ``aud`` and ``iss`` (and ``exp`` unless ``verify_exp`` is false) against ``now``.

    PyJWT checks signature, audience and issuer; ``exp`` is compared with the injected clock so that
    tests with a frozen clock and services agree on time. Services pass ``verify_exp=False`` for
    ``/v1/sessions/authenticate``, which accepts a JWT past its ``exp`` while the underlying session is
    still active (stytch-api.md §4.9).
    """
    try:
        claims: dict[str, Any] = pyjwt.decode(
            token,
            public_key,
            algorithms=["RS256"],
            audience=project_id,
            issuer=issuer,
            # Time claims are checked below against the injected clock, not the wall clock.
            options={
                "require": ["aud", "iss", "exp", "iat", "nbf", "sub"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except pyjwt.PyJWTError as exc:
        raise InvalidJwt(type(exc).__name__) from exc
    if verify_exp and claims["exp"] <= int(now.timestamp()):
        raise InvalidJwt("expired")
    if not isinstance(claims.get(SESSION_CLAIM), dict) or not isinstance(
        claims[SESSION_CLAIM].get("id"), str
    ):
        raise InvalidJwt("no session claim")
    return claims
