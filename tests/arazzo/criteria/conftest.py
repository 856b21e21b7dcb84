"""Make the case-table loader and the dictionary EvaluationContext of tests/arazzo/expressions importable."""

from __future__ import annotations

import sys
from pathlib import Path

_EXPRESSIONS_TESTS = str(Path(__file__).resolve().parent.parent / "expressions")
if _EXPRESSIONS_TESTS not in sys.path:
    sys.path.insert(0, _EXPRESSIONS_TESTS)
