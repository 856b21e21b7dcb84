"""Figures the reliability suites produce (cases tried, 5xx seen, race outcomes, flows killed and recovered).

When ``TOTPFLOW_RELIABILITY_FIGURES`` names a file, each suite appends one JSON line per measurement to it;
``docs/reliability.md`` quotes the figures of a run made that way. Without the variable nothing is written.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

FIGURES_ENV = "TOTPFLOW_RELIABILITY_FIGURES"
_lock = threading.Lock()


def record(suite: str, **values: Any) -> None:
    path = os.environ.get(FIGURES_ENV)
    if not path:
        return
    with _lock, open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"suite": suite, **values}, sort_keys=True) + "\n")
