"""Key rollover as JWKS clients see it, with a frozen clock: the server runs in this process (uvicorn on a
loopback port) over ``Deps`` whose clock the test moves, and ``jwt.PyJWKClient`` — the JWKS client of the
official Python SDK — fetches ``/v1/sessions/jwks/{project_id}`` over real HTTP.

A client that fetched the JWKS before ``keys rotate`` verifies every token minted before, during and after
the rollover, and never meets "Unable to find a signing key". A JWKS snapshot taken during the publication
window (a cache refreshed on a schedule, as Go's keyfunc does hourly) already holds the key that signs
after the switch, so it verifies those tokens without fetching again. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import jwt as pyjwt
import pyotp
import pytest
from frozen_clock import FrozenClock
from inprocess_server import serving

from totpflow.server import services
from totpflow.server.app import create_app
from totpflow.server.config import Settings
from totpflow.server.domain.models import Project

CACHE_LIFESPAN = 300  # seconds: PyJWKClient's default JWK-set cache lifespan


@pytest.fixture
def base_url(deps: services.Deps, master_key: bytes, database_url: str) -> Iterator[str]:
    app = create_app(Settings(database_url=database_url, master_key=master_key), deps=deps)
    with serving(app, lifespan="off") as url:
        yield url


def mint(deps: services.Deps, project: Project, clock: FrozenClock, n: int) -> str:
    user = services.create_user(deps, project, email=f"rollover-{n}@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
    result = services.authenticate_totp(
        deps,
        project,
        user_id=user.user_id,
        totp_code=pyotp.TOTP(created.secret).at(clock.now),
        session_duration_minutes=60,
    )
    return result.session_jwt


def check(token: str, key: Any, project: Project) -> None:
    """Signature, audience and issuer; time claims belong to the frozen clock, not to this machine's."""
    pyjwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience=project.project_id,
        issuer=f"stytch.com/{project.project_id}",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )


def test_a_client_that_fetched_before_the_rotation_verifies_every_token(
    deps: services.Deps, project: Project, clock: FrozenClock, base_url: str
) -> None:
    jwks_url = f"{base_url}/v1/sessions/jwks/{project.project_id}"
    # A forced refetch on an unknown kid is never allowed here (PyJWT's cooldown, 30 s by default, is made
    # longer than the test): every kid must already be in the cache. The cache itself lives CACHE_LIFESPAN
    # (PyJWKClient's default); PyJWKClient times it on this machine's clock, so the test refreshes it when
    # that much frozen time has passed, as it would refresh by itself.
    client = pyjwt.PyJWKClient(jwks_url, lifespan=CACHE_LIFESPAN, cooldown_duration=3600)
    tokens = [mint(deps, project, clock, 0)]
    check(tokens[0], client.get_signing_key_from_jwt(tokens[0]).key, project)  # fetched before the rotation
    fetched_at = clock.now

    rotation = services.rotate_signing_key(deps, project.project_id)
    # Another client refreshes on an hourly schedule (Go's keyfunc); its refresh falls in the window.
    snapshot = pyjwt.PyJWKSet.from_dict(pyjwt.PyJWKClient(jwks_url).fetch_data())
    # Through the publication window, past the switch and far into the retention period.
    steps = [
        timedelta(minutes=1),
        timedelta(minutes=58),
        timedelta(minutes=2),
        timedelta(hours=5),
        timedelta(days=29),
    ]
    for step, advance in enumerate(steps):
        clock.advance(seconds=advance.total_seconds())
        if clock.now - fetched_at >= timedelta(seconds=CACHE_LIFESPAN):
            client.get_signing_keys(refresh=True)
            fetched_at = clock.now
        tokens.append(mint(deps, project, clock, step + 1))
        for token in tokens:
            check(token, client.get_signing_key_from_jwt(token).key, project)
        signed_by = pyjwt.get_unverified_header(tokens[-1])["kid"]
        assert signed_by == (rotation.kid if clock.now >= rotation.signs_from else rotation.replaces)
        check(tokens[-1], snapshot[signed_by].key, project)  # no refetch needed
    kids = {pyjwt.get_unverified_header(t)["kid"] for t in tokens}
    assert kids == {rotation.kid, rotation.replaces}
