"""Criterion Objects of every type, from tests/arazzo/cases/criteria.yaml (the Arazzo 1.0.1 and 1.1.0
Criterion examples, the jsonpath/regex probe rows of arazzo.md §4.3, XPath 1.0–3.1)."""

from __future__ import annotations

from typing import Any

import pytest
from case_tables import given, load, params
from dict_context import DictContext

from totpflow.arazzo.criteria import compile_criterion
from totpflow.arazzo.document.model import Criterion
from totpflow.arazzo.errors import ConditionError

TABLE = load("criteria.yaml")


def _criterion(spec: dict[str, Any]) -> Criterion:
    return Criterion(
        condition=spec["condition"],
        context=spec.get("context"),
        type=spec.get("type", "simple"),
        version=spec.get("version"),
        location=spec.get("location", "/workflows/0/steps/0/successCriteria/0"),
        minor=spec.get("minor", "1.0"),
    )


@pytest.mark.parametrize("row", params(TABLE, "criteria", "id"))
def test_criterion(row: dict[str, Any]) -> None:
    criterion = _criterion(row["criterion"])
    if "error" in row:
        with pytest.raises(ConditionError) as info:
            compile_criterion(criterion)
        assert info.value.position == row["error"]["position"], str(info.value)
        assert info.value.location == row["error"]["location"]
        if "message" in row["error"]:
            assert row["error"]["message"] in info.value.message
        return
    compiled = compile_criterion(criterion)
    assert len(compiled.warnings) == row.get("warnings", 0)
    result = compiled.evaluate(DictContext(given(TABLE, row)))
    assert result.passed is row["passed"], result.message
    assert result.condition == criterion.condition
    assert result.type == criterion.type
    if "message" in row:
        assert result.message is not None and row["message"] in result.message, result.message
    elif row["passed"]:
        assert result.message is None, result.message


def test_failure_message_goes_through_mask() -> None:
    criterion = Criterion(condition="^nomatch$", context="$response.body#/token", type="regex")
    ctx = DictContext({"response": {"body": {"token": "secret-token"}}})
    result = compile_criterion(criterion).evaluate(ctx, mask=lambda text: text.replace("secret-token", "***"))
    assert not result.passed and result.message is not None
    assert "secret-token" not in result.message
