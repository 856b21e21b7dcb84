"""Runtime expressions, templates, compiled values and JSON Pointers, from tests/arazzo/cases/expressions.yaml
(modelled on the Arazzo 1.0.1 "Runtime Expressions" examples table, the 1.1.0 grammar and RFC 6901 §5)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from case_tables import given, load, params
from dict_context import DictContext

from totpflow.arazzo.errors import EvaluationError, ExpressionError
from totpflow.arazzo.expressions import compile_value, nodes, parse, parse_template, pointer

TABLE = load("expressions.yaml")


def _check_error(exc: ExpressionError, expected: dict[str, Any]) -> None:
    assert exc.position == expected["position"], str(exc)
    if "message" in expected:
        assert expected["message"] in exc.message


def _check_node(node: nodes.Node, expected: dict[str, Any]) -> None:
    fields = dict(expected)
    assert type(node).__name__ == fields.pop("type")
    for name, value in fields.items():
        assert getattr(node, name) == value, name


@pytest.mark.parametrize("row", params(TABLE, "expressions", "expression"))
def test_expression(row: dict[str, Any]) -> None:
    if "error" in row:
        with pytest.raises(ExpressionError) as info:
            parse(row["expression"])
        _check_error(info.value, row["error"])
        return
    expression = parse(row["expression"])
    assert expression.text == row["expression"]
    assert len(expression.warnings) == row.get("warnings", 0), expression.warnings
    if "node" in row:
        _check_node(expression.node, row["node"])
    ctx = DictContext(given(TABLE, row))
    if "unresolved" in row:
        with pytest.raises(EvaluationError) as failure:
            expression.evaluate(ctx)
        assert row["unresolved"] in failure.value.message
        return
    result = expression.evaluate(ctx)
    assert result == row["result"]
    assert type(result) is type(row["result"])  # runtime expressions preserve the type


@pytest.mark.parametrize("row", params(TABLE, "templates", "template"))
def test_template(row: dict[str, Any]) -> None:
    if "error" in row:
        with pytest.raises(ExpressionError) as info:
            parse_template(row["template"])
        _check_error(info.value, row["error"])
        return
    template = parse_template(row["template"])
    assert len(template.expressions) == row.get("expressions", len(template.expressions))
    ctx = DictContext(given(TABLE, row))
    if "unresolved" in row:
        with pytest.raises(EvaluationError) as failure:
            template.render(ctx)
        assert row["unresolved"] in failure.value.message
        return
    assert template.render(ctx) == row["result"]


@pytest.mark.parametrize("row", params(TABLE, "values", "id"))
def test_compiled_value(row: dict[str, Any]) -> None:
    if "error" in row:
        with pytest.raises(ExpressionError) as info:
            compile_value(row["value"])
        _check_error(info.value, row["error"])
        return
    original = copy.deepcopy(row["value"])
    compiled = compile_value(row["value"])
    assert len(compiled.expressions()) == row["expressions"]
    ctx = DictContext(given(TABLE, row))
    if "unresolved" in row:
        with pytest.raises(EvaluationError) as failure:
            compiled.evaluate(ctx)
        assert row["unresolved"] in failure.value.message
        return
    assert compiled.evaluate(ctx) == row["result"]
    assert row["value"] == original  # the document's value is never modified


@pytest.mark.parametrize("row", params(TABLE, "pointers", "id"))
def test_pointer(row: dict[str, Any]) -> None:
    document = TABLE["pointer_documents"][row.get("document", "rfc6901")]
    original = copy.deepcopy(document)

    def operation() -> Any:
        if "replace" in row:
            return pointer.replace(document, row["pointer"], row["replace"])
        return pointer.resolve(document, row["pointer"])

    if "error" in row:
        with pytest.raises(pointer.PointerError) as failure:
            operation()
        assert row["error"] in failure.value.message
    else:
        assert operation() == row["result"]
    assert document == original  # replace copies along the path, never mutates


@pytest.mark.parametrize("row", params(TABLE, "pointer_fragments", "id"))
def test_pointer_fragment(row: dict[str, Any]) -> None:
    if "error" in row:
        with pytest.raises(pointer.PointerError) as failure:
            pointer.split_fragment(row["fragment"])
        assert row["error"] in failure.value.message
        return
    tokens = pointer.split_fragment(row["fragment"])
    assert list(tokens) == row["tokens"]
    assert pointer.split(pointer.join(tokens)) == tokens  # join encodes what split decodes


def test_pointer_join_encodes_indexes_and_escapes() -> None:
    assert pointer.join(("a/b", 0, "m~n")) == "/a~1b/0/m~0n"
    assert pointer.join(()) == ""


def test_parse_is_cached() -> None:
    assert parse("$response.body#/cached/0") is parse("$response.body#/cached/0")
    assert parse_template("a {$inputs.cached} b") is parse_template("a {$inputs.cached} b")
