"""The `simple` condition language, from tests/arazzo/cases/conditions.yaml (Arazzo 1.0.1 "Criterion Object"
literals and operators, the 1.1.0 "Condition Evaluation" rules, and the probe rows of arazzo.md §4.3)."""

from __future__ import annotations

from typing import Any

import pytest
from case_tables import given, load, params
from dict_context import DictContext

from totpflow.arazzo.errors import ConditionError
from totpflow.arazzo.expressions import parse_condition
from totpflow.arazzo.expressions.lexer import tokenize_condition

TABLE = load("conditions.yaml")


@pytest.mark.parametrize("row", params(TABLE, "conditions", "condition"))
def test_condition(row: dict[str, Any]) -> None:
    if "error" in row:
        with pytest.raises(ConditionError) as info:
            parse_condition(row["condition"])
        assert info.value.position == row["error"]["position"], str(info.value)
        if "message" in row["error"]:
            assert row["error"]["message"] in info.value.message
        return
    condition = parse_condition(row["condition"])
    assert len(condition.warnings) == row.get("warnings", 0), condition.warnings
    ctx = DictContext(given(TABLE, row))
    assert condition.evaluate(ctx) is row["result"]
    passed, message = condition.explain(ctx)
    assert passed is row["result"]
    if row["result"]:
        assert message is None
    for fragment in row.get("message", []):
        assert message is not None and fragment in message, message
    strict = row.get("result_1_1", row["result"])
    assert condition.evaluate(ctx, only_true=True) is strict
    passed, message = condition.explain(ctx, only_true=True)
    assert passed is strict
    assert (message is None) is strict
    if strict != row["result"]:
        assert message is not None and "not a boolean" in message, message


def test_explain_masks_and_truncates() -> None:
    ctx = DictContext({"response": {"body": {"token": "secret-" + "x" * 200}}})
    passed, message = parse_condition("$response.body#/token == 'other'").explain(
        ctx, mask=lambda text: text.replace("secret", "****")
    )
    assert not passed and message is not None
    assert "secret" not in message and "****" in message
    assert len(message) < 200


@pytest.mark.parametrize("row", params(TABLE, "tokens", "condition"))
def test_condition_tokens(row: dict[str, Any]) -> None:
    tokens = tokenize_condition(row["condition"])
    assert tokens[-1].kind == "EOF"
    assert [[t.kind, t.text, t.pos] for t in tokens[:-1]] == row["tokens"]
    for token in tokens[:-1]:
        if token.kind != "STRING":
            assert row["condition"][token.pos : token.end] == token.text


def test_a_number_literal_longer_than_python_reads_is_a_syntax_error() -> None:
    with pytest.raises(ConditionError) as info:
        parse_condition("$statusCode == " + "9" * 5000)
    assert info.value.position == 15


def test_a_numeric_string_longer_than_python_reads_compares_by_its_magnitude() -> None:
    ctx = DictContext({"response": {"body": {"n": "9" * 5000}}})
    assert parse_condition("$response.body#/n > 1000").evaluate(ctx) is True
    assert parse_condition("$response.body#/n == 5").evaluate(ctx) is False
