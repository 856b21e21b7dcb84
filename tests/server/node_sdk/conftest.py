"""The Node SDK tests share the server helpers of the HTTP tests (``tests/server/http/serverkit.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "http"))
