"""Stytch consumer API routes this server does not serve, by the product they belong to.

A request to one of them gets a 404 whose message names that product, so an application that calls, say,
``magic_links.email.send`` learns the product is not served here rather than seeing a bare
``route_not_found``. Patterns are path prefixes of Stytch's consumer API reference
(https://stytch.com/docs/api), matched whole segment by segment; a ``{name}`` segment (a path parameter)
matches any one non-empty segment. The first matching pattern wins, so a specific one comes before a
broader one.
"""

from __future__ import annotations

from typing import Final

# (path pattern, product name as Stytch's docs title it)
PRODUCTS: Final[tuple[tuple[str, str], ...]] = (
    ("/v1/magic_links", "Email Magic Links"),
    ("/v1/otps", "One-Time Passcodes (SMS, WhatsApp and email OTP)"),
    ("/v1/passwords", "Passwords"),
    ("/v1/oauth", "OAuth"),
    ("/v1/webauthn", "WebAuthn and passkeys"),
    ("/v1/crypto_wallets", "Crypto Wallets"),
    ("/v1/biometrics", "Biometrics"),
    ("/v1/m2m", "M2M (machine-to-machine) authentication"),
    ("/v1/impersonation", "Impersonation"),
    ("/v1/idp", "Connected Apps (identity provider)"),
    ("/v1/connected_apps", "Connected Apps"),
    ("/v1/fraud", "Fraud and risk"),
    ("/v1/public", "Public keys and OIDC discovery"),
    ("/v1/b2b", "B2B (organizations and members)"),
    ("/v1/users/emails", "email management (emails are added through Email Magic Links or OTP)"),
    ("/v1/users/phone_numbers", "phone number management (phones are added through OTP)"),
    ("/v1/users/webauthn_registrations", "WebAuthn and passkeys"),
    ("/v1/users/biometric_registrations", "Biometrics"),
    ("/v1/users/oauth", "OAuth"),
    ("/v1/users/crypto_wallets", "Crypto Wallets"),
    ("/v1/users/passwords", "Passwords"),
    ("/v1/users/{user_id}/exchange_primary_factor", "primary factor exchange"),
    ("/v1/users/{user_id}/external_id", "external ID deletion"),
    ("/v1/users/{user_id}/connected_apps", "Connected Apps"),
    ("/v1/sessions/exchange_access_token", "Connected Apps access token exchange"),
    ("/v1/sessions/attest", "session attestation (trusted auth tokens)"),
    ("/v1/sessions/migrate", "session migration"),
    ("/v1/debug", "Debug (whoami)"),
    ("/v1/projects", "Project metrics"),
)

_SEGMENTS: Final[tuple[tuple[tuple[str, ...], str], ...]] = tuple(
    (tuple(pattern.strip("/").split("/")), product) for pattern, product in PRODUCTS
)


def product_of(path: str) -> str | None:
    """The product of a known Stytch route this server does not serve, or None."""
    segments = path.strip("/").split("/")
    for pattern, product in _SEGMENTS:
        if len(segments) >= len(pattern) and all(
            (want.startswith("{") and bool(got)) or got == want
            for want, got in zip(pattern, segments, strict=False)
        ):
            return product
    return None
