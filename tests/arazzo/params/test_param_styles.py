"""Parameter serialisation against the OpenAPI "Style Examples" table and the encoding cases, both in
style_examples.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from totpflow.arazzo.errors import ExecutionError
from totpflow.arazzo.params import (
    RequestParts,
    cookie_header,
    expand_path,
    query_string,
    serialize_parameters,
)

DATA = json.loads((Path(__file__).parent / "style_examples.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Info:
    """An OpenAPI Parameter Object's serialisation fields, as ``sources.OperationParameter`` carries them."""

    style: str | None
    explode: bool | None
    allow_reserved: bool = False
    collection_format: str | None = None  # Swagger 2.0


def render(in_: str, parts: RequestParts) -> str:
    if in_ == "path":
        return expand_path("{color}", parts.path_params)
    if in_ == "query":
        return query_string(parts.query)
    if in_ == "header":
        assert [name for name, _ in parts.headers] == ["color"]
        return parts.headers[0][1]
    return cookie_header(parts.cookies)


TABLE = [
    pytest.param(
        row,
        kind,
        row[kind],
        id=f"{row['in']}-{row['style']}-{'explode' if row['explode'] else 'flat'}-{kind}",
    )
    for row in DATA["table"]
    for kind in ("empty", "string", "array", "object")
    if row[kind] is not None
]


@pytest.mark.parametrize(("row", "kind", "expected"), TABLE)
def test_style_examples_table(row: dict[str, Any], kind: str, expected: str) -> None:
    info = Info(row["style"], row["explode"])
    parts = serialize_parameters([(info, "color", row["in"], DATA["values"][kind])])
    assert render(row["in"], parts) == expected


@pytest.mark.parametrize("case", DATA["encoding"], ids=[case["note"] for case in DATA["encoding"]])
def test_encoding(case: dict[str, Any]) -> None:
    info = Info(case["style"], case["explode"], case.get("allowReserved", False))
    parts = serialize_parameters([(info, "color", case["in"], case["value"])])
    assert render(case["in"], parts) == case["expected"]


FORMATS = DATA["collection_formats"]


@pytest.mark.parametrize(
    "case", FORMATS, ids=[f"{case['in']}-{case['collectionFormat']}-{i}" for i, case in enumerate(FORMATS)]
)
def test_swagger_collection_formats(case: dict[str, Any]) -> None:
    # as sources.openapi maps them: ssv / pipes in a query are spaceDelimited / pipeDelimited, csv the default
    style = {"query": {"ssv": "spaceDelimited", "pipes": "pipeDelimited"}}.get(case["in"], {})
    info = Info(style.get(case["collectionFormat"]), False, collection_format=case["collectionFormat"])
    parts = serialize_parameters([(info, "color", case["in"], case["value"])])
    assert render(case["in"], parts) == case["expected"]


def test_no_operation_parameter_uses_the_location_defaults() -> None:
    parts = serialize_parameters(
        [
            (None, "id", "path", "u 1"),
            (None, "tag", "query", ["a", "b"]),
            (None, "X-Trace", "header", "t-1"),
            (None, "session", "cookie", "s1"),
        ]
    )
    assert expand_path("/users/{id}", parts.path_params) == "/users/u%201"
    assert query_string(parts.query) == "tag=a&tag=b"
    assert parts.headers == [("X-Trace", "t-1")]
    assert cookie_header(parts.cookies) == "session=s1"


@pytest.mark.parametrize(
    ("value", "sent"),
    [(" a", "a"), ("Bearer ", "Bearer"), ("\ta b\t ", "a b"), (["x", "y "], "x,y")],
)
def test_a_header_value_is_sent_without_the_whitespace_a_recipient_strips(value: Any, sent: str) -> None:
    # RFC 9110 section 5.5: the value a recipient reads; a workflow that built "Bearer " from an empty output
    # still sends its request
    assert serialize_parameters([(None, "X-A", "header", value)]).headers == [("X-A", sent)]


def test_an_absent_optional_value_is_left_out() -> None:
    parts = serialize_parameters([(None, "q", "query", None), (None, "X-A", "header", None)])
    assert parts.query == [] and parts.headers == []


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([(None, "id", "path", None)], "has no value"),
        ([(Info("deepObject", True), "f", "query", ["a"])], "deepObject needs an object"),
        ([(Info("pipeDelimited", False), "f", "query", "a")], "needs an array or object"),
        ([(Info("matrix", False), "f", "query", "a")], "not allowed in query"),
        ([(None, "f", "body", "a")], "unsupported location"),
        ([(None, "X-A", "header", "a\r\nX-Injected: 1")], "line break"),
        ([(Info(None, False, collection_format="ssv"), "X-A", "header", ["", "a"])], "begin or end"),
        ([(Info(None, False, collection_format="tsv"), "X-A", "header", ["a", ""])], "begin or end"),
        ([(Info(None, False, collection_format="ssv"), "id", "path", "a")], "collectionFormat ssv needs"),
        ([(Info("form", True, collection_format="multi"), "id", "path", ["a"])], "'multi' is only allowed"),
        ([(Info("cookie", True), "c", "cookie", "a;b=1")], "holds ';'"),
        ([(Info("cookie", False), "c", "cookie", ["a", "b\r\nX-Injected: 1"])], "line break"),
        ([(Info("cookie", True), "c", "cookie", {"a=b": "1"})], "cookie name 'a=b'"),
        ([(Info("cookie", True), "c", "cookie", {"a;b": "1"})], "cookie name 'a;b'"),
        ([(Info("cookie", True), "c", "query", "a")], "not allowed in query"),
        ([(Info("form", True), "c", "cookie", {"a=b": "1"})], "cookie name 'a=b'"),
        ([(Info("form", True), "c", "cookie", {"a;admin": "1"})], "cookie name 'a;admin'"),
        ([(None, "c\r\nX-Injected: 1", "cookie", "v")], "line break"),
        ([(Info("spaceDelimited", True), "f", "query", {"R": 1})], "no serialisation for an object"),
        ([(Info("pipeDelimited", True), "f", "query", {"R": 1})], "set explode to false"),
    ],
)
def test_invalid_combinations_are_rejected(items: list[Any], message: str) -> None:
    with pytest.raises(ExecutionError, match=message):
        serialize_parameters(items)


def test_expand_path_refuses_to_send_an_unfilled_template() -> None:
    with pytest.raises(ExecutionError, match="'petId'"):
        expand_path("/pets/{petId}", {})


def test_request_parts_helpers() -> None:
    parts = serialize_parameters([(None, "Authorization", "header", "x"), (None, "a b", "query", "1")])
    assert parts.has_header("authorization")
    assert parts.has_query("a b")
    other = RequestParts(headers=[("X-B", "2")], cookies=[("c", "3")])
    parts.extend(other)
    assert parts.has_header("x-b") and parts.has_cookie("c")


def test_a_querystring_kept_as_written_writes_a_lone_percent_as_25() -> None:
    from totpflow.arazzo.params import querystring_value

    assert querystring_value("q", "b=%zz&c=%41&d=50%", None) == "b=%25zz&c=%41&d=50%25"
