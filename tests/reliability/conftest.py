"""Fixtures of the reliability suites. The server helpers of ``tests/server/http/serverkit.py`` are reused
(importable from here by putting that directory on ``sys.path``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "server" / "http"))

from serverkit import backend  # noqa: E402  (module-scoped server per backend, for the isolation suite)

__all__ = ["backend"]
