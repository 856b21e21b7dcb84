"""``serve --rotate-keys-every`` / ``TOTPFLOW_ROTATE_KEYS_EVERY``: parsed into the policy, refused with exit 2
(and a message naming the setting) when it is not a duration or not longer than the publication delay."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from totpflow.server.config import ROTATE_KEYS_EVERY_ENV, Settings
from totpflow.server.errors import ConfigError
from totpflow.server.storage import open_store
from totpflow.server.storage.schema import signing_keys
from totpflow.testing import run_server


def load(tmp_path: Path, **environ: str) -> Settings:
    return Settings.load({**environ}, database_url=f"sqlite:///{tmp_path / 'totpflow.db'}")


def test_the_setting_reaches_the_policy(tmp_path: Path) -> None:
    assert load(tmp_path).policy.rotate_keys_every is None
    assert load(tmp_path, **{ROTATE_KEYS_EVERY_ENV: "90d"}).policy.rotate_keys_every == timedelta(days=90)
    assert load(tmp_path, **{ROTATE_KEYS_EVERY_ENV: "off"}).policy.rotate_keys_every is None


@pytest.mark.parametrize("value", ["soon", "30m", "1h", "-5d"])
def test_refused_values(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="--rotate-keys-every"):
        load(tmp_path, **{ROTATE_KEYS_EVERY_ENV: value})


def test_serve_refuses_a_period_within_the_publication_delay(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    result = subprocess.run(
        [sys.executable, "-m", "totpflow", "serve", "--port", "1", "--rotate-keys-every", "30m"],
        env={**env, "TOTPFLOW_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "--rotate-keys-every" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_starts_a_rollover_when_the_key_is_due(tmp_path: Path) -> None:
    """A key published three hours ago, ``--rotate-keys-every 2h``: the server's first check (at start)
    publishes the next key, which does not sign yet."""
    with run_server(tmp_path) as first:
        jwks_url = f"{first.base_url}/v1/sessions/jwks/{first.project_id}"
        [old] = [k["kid"] for k in httpx.get(jwks_url).json()["keys"]]
        project_id = first.project_id
    store = open_store(f"sqlite:///{tmp_path / 'totpflow.db'}")
    try:
        with store.engine.begin() as connection:
            for kid, created_at in connection.execute(
                select(signing_keys.c.kid, signing_keys.c.created_at)
            ).all():
                aged = update(signing_keys).where(signing_keys.c.kid == kid)
                connection.execute(aged.values(created_at=created_at - timedelta(hours=3)))
    finally:
        store.dispose()
    with run_server(tmp_path, project_id=project_id, env={ROTATE_KEYS_EVERY_ENV: "2h"}) as server:
        jwks_url = f"{server.base_url}/v1/sessions/jwks/{project_id}"
        deadline = time.monotonic() + 60  # the check runs as the server starts; this only bounds a failure
        served = [old]
        while len(served) < 2 and time.monotonic() < deadline:
            served = [k["kid"] for k in httpx.get(jwks_url).json()["keys"]]
            time.sleep(0.2)
        assert len(served) == 2 and served[0] == old  # the old key still signs; the new one is published
