"""``totpflow serve`` caps glibc's malloc arenas (``totpflow.server.memory``), unless the operator has set
``MALLOC_ARENA_MAX``; processes it starts inherit the cap. Each case runs in a fresh interpreter, since the
cap is process-wide."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

PROBE = (
    "import os; from totpflow.server.memory import limit_malloc_arenas\n"
    "print(limit_malloc_arenas(), os.environ['MALLOC_ARENA_MAX'])"
)


def probe(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    answer = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env={**clean, **env}, timeout=60
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
    return answer.stdout.strip()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc's mallopt"
)
def test_the_cap_is_set_and_handed_on() -> None:
    assert probe() == "True 2"


def test_the_operators_setting_wins() -> None:
    assert probe(MALLOC_ARENA_MAX="4") == "False 4"
