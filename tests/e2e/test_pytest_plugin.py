"""The pytest plugin, used the way an application's own test suite would use it.

No imports from totpflow: the fixtures come from the plugin that installing totpflow registers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from stytch.core.response_base import StytchError


def test_enroll_and_log_in_with_the_official_sdk(stytch_client: Any, totp_code: Callable[[str], str]) -> None:
    user = stytch_client.users.create(email="ada@example.com", name={"first_name": "Ada"})
    totp = stytch_client.totps.create(user_id=user.user_id)
    assert totp.qr_code.startswith("data:image/png;base64, ")

    login = stytch_client.totps.authenticate(
        user_id=user.user_id, totp_code=totp_code(totp.secret), session_duration_minutes=60
    )
    assert login.session is not None
    assert login.user.totps[0].verified is True

    # The app verifies the session JWT locally, with the server's JWKS.
    session = stytch_client.sessions.authenticate_jwt_local(session_jwt=login.session_jwt)
    assert session is not None and session.user_id == user.user_id

    # Lost phone: a recovery code logs in once.
    code = totp.recovery_codes[0]
    assert stytch_client.totps.recover(user_id=user.user_id, recovery_code=code).user_id == user.user_id
    with pytest.raises(StytchError) as refused:
        stytch_client.totps.recover(user_id=user.user_id, recovery_code=code)
    assert refused.value.details.status_code == 401


def test_each_test_gets_a_fresh_server(stytch_client: Any) -> None:
    # The user created by the previous test does not exist here.
    found = stytch_client.users.search(
        query={
            "operator": "AND",
            "operands": [{"filter_name": "email_address", "filter_value": ["ada@example.com"]}],
        }
    )
    assert found.results == []
