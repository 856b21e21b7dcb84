"""``totpflow serve`` refuses malformed rate-limit settings, from a flag or the environment, with exit code 2
and a message naming the setting."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def serve(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOTPFLOW_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "totpflow",
            "serve",
            "--database-url",
            f"sqlite:///{tmp_path / 'x.db'}",
            *args,
        ],
        env={**base, "TOTPFLOW_HOME": str(tmp_path), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--rate-limit-user", "lots"], {}, "--rate-limit-user"),
        (["--rate-limit-project", "10/fortnight"], {}, "--rate-limit-project"),
        ([], {"TOTPFLOW_RATE_LIMIT_USER": "0/60s"}, "--rate-limit-user"),
        ([], {"TOTPFLOW_RATE_LIMIT_PROJECT": "5"}, "--rate-limit-project"),
        ([], {"TOTPFLOW_RATE_LIMIT_REDIS": "http://127.0.0.1:6379"}, "TOTPFLOW_RATE_LIMIT_REDIS"),
    ],
    ids=["user-flag", "project-flag", "user-env", "project-env", "redis-env"],
)
def test_bad_rate_limit_settings_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], named: str
) -> None:
    result = serve(tmp_path, *args, env=env)
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert ("N/PERIOD" in result.stderr) != ("redis://" in result.stderr)  # says what shape is expected
    assert "Traceback" not in result.stderr
