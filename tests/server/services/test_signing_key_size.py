"""The RSA size of new signing keys is a setting (2048, 3072 or 4096 bits); the JWKS serves keys of that size
and the session JWTs they sign verify."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest
from svc_totp_codes import code_for

from totpflow.server import services
from totpflow.server.config import Settings
from totpflow.server.domain.models import Project
from totpflow.server.errors import ConfigError
from totpflow.server.policy import Policy


@pytest.mark.parametrize("bits", [3072, 4096])
def test_new_signing_keys_have_the_configured_size(deps: services.Deps, project: Project, bits: int) -> None:
    deps = dataclasses.replace(deps, policy=Policy(rsa_key_size=bits))
    (jwk,) = services.get_jwks(deps, project.project_id)
    modulus = base64.urlsafe_b64decode(jwk["n"] + "=" * (-len(jwk["n"]) % 4))
    assert len(modulus) * 8 == bits
    user = services.create_user(deps, project, email="ada@example.com")
    created = services.create_totp(deps, project, user_id=user.user_id)
    signed_in = services.authenticate_totp(
        deps,
        project,
        user_id=user.user_id,
        totp_code=code_for(created.secret, deps.now()),
        session_duration_minutes=60,
    )
    assert services.authenticate_session(deps, project, session_jwt=signed_in.session_jwt).session is not None


def test_the_setting_comes_from_the_flag_over_the_environment(tmp_path: Path) -> None:
    environ = {"TOTPFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    assert Settings.load(environ).policy.rsa_key_size == 2048
    assert Settings.load(environ | {"TOTPFLOW_RSA_KEY_SIZE": "3072"}).policy.rsa_key_size == 3072
    assert (
        Settings.load(environ | {"TOTPFLOW_RSA_KEY_SIZE": "3072"}, rsa_key_size=4096).policy.rsa_key_size
        == 4096
    )
    for bad in ("1024", "2047", "x", "-2048"):
        with pytest.raises(ConfigError, match="RSA key size"):
            Settings.load(environ | {"TOTPFLOW_RSA_KEY_SIZE": bad})
