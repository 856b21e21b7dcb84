"""``totpflow run`` as a real subprocess, with a minimal environment (no colour, no inherited settings)."""

from __future__ import annotations

import subprocess
import sys


def totpflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``env``: variables added to the minimal environment (``TOTPFLOW_AUTH_…``)."""
    return subprocess.run(
        [sys.executable, "-m", "totpflow", "run", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", **(env or {})},
    )
