"""A ``regex`` criterion whose pattern backtracks catastrophically fails at the time bound, saying why, rather
than hold the run (``expressions.regex_guard``; the bound is shortened here)."""

from __future__ import annotations

import pytest
from dict_context import DictContext

from totpflow.arazzo.criteria import compile_criterion
from totpflow.arazzo.document.model import Criterion
from totpflow.arazzo.expressions import regex_guard


def test_a_regex_criterion_that_runs_out_of_time_fails_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(regex_guard, "MATCH_TIMEOUT_SECONDS", 0.5)
    criterion = Criterion(condition="^(a+)+$", context="$response.body#/s", type="regex")
    ctx = DictContext({"response": {"body": {"s": "a" * 40 + "!"}}})
    result = compile_criterion(criterion).evaluate(ctx)
    assert result.passed is False
    assert "did not finish within 0.5 s" in (result.message or "")
