"""``totpflow run`` as a real subprocess, with a minimal environment (no colour, no inherited settings)."""

from __future__ import annotations

import os
import subprocess
import sys


def totpflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``env``: variables added to the minimal environment (``TOTPFLOW_AUTH_…``). The ``PYTHONPATH`` the
    tests run with is kept, so the subprocess runs the code under test."""
    path = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
    return subprocess.run(
        [sys.executable, "-m", "totpflow", "run", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", **path, **(env or {})},
    )
