"""Session JWT claims and verification (stytch-api.md §3.3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from totpflow.server import crypto, errors
from totpflow.server.domain import jwt
from totpflow.server.domain.models import AuthenticationFactor, Session

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
KEY = crypto.generate_signing_key("jwk-test-unit", NOW)


def _session(**claims: object) -> Session:
    factor = AuthenticationFactor("totp", "authenticator_app", NOW, NOW, NOW, totp_id="totp-test-1")
    return Session(
        "session-test-1", "user-test-1", NOW, NOW, NOW + timedelta(hours=1), (factor,), custom_claims=claims
    )


def _token(now: datetime = NOW, **claims: object) -> str:
    built = jwt.session_claims(
        project_id="project-test-1",
        issuer="stytch.com/project-test-1",
        session=_session(**claims),
        now=now,
        lifetime_seconds=300,
    )
    return jwt.sign(built, KEY.private_key, KEY.kid)


def _verify(token: str, now: datetime = NOW, **kw: bool) -> dict[str, object]:
    return jwt.verify(
        token,
        KEY.private_key.public_key(),
        project_id="project-test-1",
        issuer="stytch.com/project-test-1",
        now=now,
        **kw,
    )


def test_claims_shape() -> None:
    claims = _verify(_token(role="admin"))
    assert jwt.unverified_kid(_token()) == KEY.kid
    assert claims["aud"] == ["project-test-1"]
    assert claims["iss"] == "stytch.com/project-test-1"
    assert claims["sub"] == "user-test-1"
    assert claims["iat"] == claims["nbf"] == int(NOW.timestamp())
    assert claims["exp"] == int(NOW.timestamp()) + 300
    assert claims["role"] == "admin"
    session = claims[jwt.SESSION_CLAIM]
    assert isinstance(session, dict)
    assert set(session) == {
        "id",
        "started_at",
        "last_accessed_at",
        "expires_at",
        "attributes",
        "authentication_factors",
        "roles",
    }
    assert session["started_at"] == "2026-01-01T12:00:00Z"
    assert session["authentication_factors"][0]["authenticator_app_factor"] == {"totp_id": "totp-test-1"}


def test_expired_token_is_refused_unless_exp_is_not_checked() -> None:
    token = _token()
    later = NOW + timedelta(seconds=301)
    with pytest.raises(errors.InvalidJwt):
        _verify(token, later)
    assert _verify(token, later, verify_exp=False)["sub"] == "user-test-1"


def test_wrong_audience_or_tampering_is_refused() -> None:
    token = _token()
    with pytest.raises(errors.InvalidJwt):
        jwt.verify(
            token,
            KEY.private_key.public_key(),
            project_id="project-test-2",
            issuer="stytch.com/project-test-1",
            now=NOW,
        )
    head, body, sig = token.split(".")
    with pytest.raises(errors.InvalidJwt):
        _verify(f"{head}.{body}x.{sig}")


@pytest.mark.parametrize("name", ["aud", "exp", "iat", "iss", "jti", "nbf", "sub"])
def test_registered_claim_names_are_refused(name: str) -> None:
    with pytest.raises(errors.InvalidCustomClaims) as exc:
        jwt.check_custom_claims({name: "x"})
    assert type(exc.value) is errors.InvalidCustomClaims  # reserved_claims_in_custom_claims


@pytest.mark.parametrize("name", [jwt.SESSION_CLAIM, "https://stytch.com/", "https://stytch.com/anything"])
def test_stytch_claim_names_are_refused(name: str) -> None:
    with pytest.raises(errors.StytchClaimsInCustomClaims):
        jwt.check_custom_claims({name: "x"})


def test_custom_claims_over_4096_bytes_are_refused() -> None:
    # {"big":"…"} is 10 bytes of syntax around the value.
    jwt.check_custom_claims({"big": "x" * 4086})
    with pytest.raises(errors.CustomClaimsTooLarge):
        jwt.check_custom_claims({"big": "x" * 4087})
    jwt.check_custom_claims({"big": "é" * 2043})  # UTF-8 bytes: "é" is two, not a six-byte \u escape
    with pytest.raises(errors.CustomClaimsTooLarge):
        jwt.check_custom_claims({"big": "é" * 2044})
