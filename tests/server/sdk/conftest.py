"""Server fixtures for the SDK tests, shared with the HTTP tests (``tests/server/http/serverkit.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "http"))

from serverkit import backend, backend_server

__all__ = ["backend", "backend_server"]
