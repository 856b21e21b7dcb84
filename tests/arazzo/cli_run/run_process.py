"""``totpflow run`` as a real subprocess, with a minimal environment (no colour, no inherited settings)."""

from __future__ import annotations

import subprocess
import sys


def totpflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "totpflow", "run", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
