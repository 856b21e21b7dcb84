"""``--key-publish-for`` / ``TOTPFLOW_KEY_PUBLISH_FOR`` and ``--key-retention`` / ``TOTPFLOW_KEY_RETENTION``:
parsed into the policy like the other durations, refused with exit 2 (and a message naming the setting) when
they are not durations or the retention is shorter than a session JWT's lifetime; ``keys rotate`` and
``serve --rotate-keys-every`` follow the publication delay."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from totpflow.server.config import KEY_PUBLISH_FOR_ENV, KEY_RETENTION_ENV, ROTATE_KEYS_EVERY_ENV, Settings
from totpflow.server.errors import ConfigError


def load(tmp_path: Path, **environ: str) -> Settings:
    return Settings.load({**environ}, database_url=f"sqlite:///{tmp_path / 'totpflow.db'}")


def totpflow(tmp_path: Path, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    env = {"TOTPFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'one.db'}", "TOTPFLOW_HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "totpflow", *args],
        env={**base, **env, **environ},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_settings_reach_the_policy(tmp_path: Path) -> None:
    default = load(tmp_path).policy
    assert (default.key_publication_delay, default.key_retention) == (timedelta(hours=1), timedelta(days=30))
    policy = load(tmp_path, **{KEY_PUBLISH_FOR_ENV: "10m", KEY_RETENTION_ENV: "7d"}).policy
    assert (policy.key_publication_delay, policy.key_retention) == (timedelta(minutes=10), timedelta(days=7))
    flags = Settings.load(
        {KEY_RETENTION_ENV: "7d"},
        database_url=f"sqlite:///{tmp_path / 'totpflow.db'}",
        key_publish_for="2h",
        key_retention="5m",
    ).policy
    assert (flags.key_publication_delay, flags.key_retention) == (timedelta(hours=2), timedelta(minutes=5))


@pytest.mark.parametrize(
    ("env", "value", "setting"),
    [
        (KEY_RETENTION_ENV, "soon", "--key-retention"),
        (KEY_RETENTION_ENV, "-5d", "--key-retention"),
        (KEY_RETENTION_ENV, "4m", "--key-retention"),
        (KEY_RETENTION_ENV, "", "--key-retention"),
        (KEY_PUBLISH_FOR_ENV, "soon", "--key-publish-for"),
        (KEY_PUBLISH_FOR_ENV, "1.5h", "--key-publish-for"),
        (KEY_RETENTION_ENV, "3000000d", "--key-retention"),  # past every date the clock can hold
        (KEY_RETENTION_ENV, "9" * 5000, "--key-retention"),
        (KEY_PUBLISH_FOR_ENV, "99999999999d", "--key-publish-for"),
        (KEY_PUBLISH_FOR_ENV, "\u00b2s", "--key-publish-for"),  # a digit to str.isdigit, not to int()
        (ROTATE_KEYS_EVERY_ENV, "3651d", "--rotate-keys-every"),
    ],
)
def test_refused_values(tmp_path: Path, env: str, value: str, setting: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        load(tmp_path, **{env: value})


def test_the_rotation_period_must_exceed_the_configured_publication_delay(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--rotate-keys-every"):
        load(tmp_path, **{KEY_PUBLISH_FOR_ENV: "2h", ROTATE_KEYS_EVERY_ENV: "90m"})
    shorter = load(tmp_path, **{KEY_PUBLISH_FOR_ENV: "10m", ROTATE_KEYS_EVERY_ENV: "30m"}).policy
    assert shorter.rotate_keys_every == timedelta(minutes=30)


@pytest.mark.parametrize(
    ("args", "environ", "setting"),
    [
        (["--key-retention", "1m"], {}, "--key-retention"),
        (["--key-retention", "forever"], {}, "--key-retention"),
        ([], {KEY_RETENTION_ENV: "soon"}, "--key-retention"),
        (["--key-publish-for", "soon"], {}, "--key-publish-for"),
        (["--key-publish-for", "0s"], {}, "--key-publish-for"),  # every rollover an unannounced emergency
        ([], {KEY_PUBLISH_FOR_ENV: "0"}, "--key-publish-for"),
        (["--key-publish-for", "2h", "--rotate-keys-every", "90m"], {}, "--rotate-keys-every"),
    ],
)
def test_serve_refuses_bad_values_with_exit_2(
    tmp_path: Path, args: list[str], environ: dict[str, str], setting: str
) -> None:
    done = totpflow(tmp_path, "serve", "--port", "1", *args, **environ)
    assert done.returncode == 2, done.stderr
    assert setting in done.stderr and "Traceback" not in done.stderr


def test_keys_rotate_follows_the_publication_delay_setting(tmp_path: Path) -> None:
    assert totpflow(tmp_path, "project", "create", "--name", "shop").returncode == 0
    before = datetime.now(UTC)
    done = totpflow(tmp_path, "keys", "rotate", **{KEY_PUBLISH_FOR_ENV: "2h"})
    assert done.returncode == 0, done.stderr
    signs_from = datetime.strptime(json.loads(done.stdout)["signs_from"], "%Y-%m-%dT%H:%M:%SZ")
    delay = signs_from.replace(tzinfo=UTC) - before
    assert timedelta(hours=2) - timedelta(seconds=1) <= delay <= timedelta(hours=2, minutes=5)
    refused = totpflow(tmp_path, "keys", "rotate", "--now", **{KEY_RETENTION_ENV: "1m"})
    assert (
        refused.returncode == 2 and "--key-retention" in refused.stderr and "Traceback" not in refused.stderr
    )


def test_serve_and_enroll_refuse_a_master_key_that_does_not_decrypt_the_store(tmp_path: Path) -> None:
    """Before anything is served or created: such a server would answer every JWKS request and
    authentication 500, and an enrollment would leave a pending user behind."""
    first, other = (base64.b64encode(secrets.token_bytes(32)).decode() for _ in range(2))
    enrolled = totpflow(tmp_path, "enroll", "--email", "a@example.com", "--unattended", "--json",
                        TOTPFLOW_MASTER_KEY=first)  # fmt: skip
    assert enrolled.returncode == 0, enrolled.stderr
    for args in (["enroll", "--email", "b@example.com", "--unattended", "--json"], ["serve", "--port", "1"]):
        refused = totpflow(tmp_path, *args, TOTPFLOW_MASTER_KEY=other)
        assert refused.returncode == 2, refused.stderr
        assert "master key is not the one" in refused.stderr and "Traceback" not in refused.stderr
    listed = totpflow(tmp_path, "users", "list", "--json", TOTPFLOW_MASTER_KEY=first)
    assert [user["emails"] for user in json.loads(listed.stdout)] == [["a@example.com"]]
