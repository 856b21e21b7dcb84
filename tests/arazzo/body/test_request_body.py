"""Request bodies: encoding per media type and payload replacements (cases in body_cases.yaml)."""

from __future__ import annotations

import io
import json
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import pytest
import yaml

from totpflow.arazzo.body import apply_replacements, choose_content_type, encode_body, media_type
from totpflow.arazzo.document.model import RequestBody
from totpflow.arazzo.errors import ExecutionError
from totpflow.arazzo.sources.openapi import build_operation

CASES = yaml.safe_load((Path(__file__).parent / "body_cases.yaml").read_text(encoding="utf-8"))


def _encodings(written: dict[str, dict[str, Any]], media: str = "multipart/form-data") -> Any:
    """Encoding Objects as an OpenAPI document writes them, read by the source reader."""
    document = {
        "openapi": "3.1.0",
        "paths": {"/x": {"post": {"requestBody": {"content": {media: {"encoding": written}}}}}},
    }
    return build_operation("api", "http://127.0.0.1/", document, "/x", "post").request_encodings.get(media)


@pytest.mark.parametrize("case", CASES["encode"], ids=[case["name"] for case in CASES["encode"]])
def test_encode(case: dict[str, Any]) -> None:
    encodings = _encodings(case.get("encodings", {}), media_type(case["contentType"]))
    if "error" in case:
        with pytest.raises(ExecutionError, match=case["error"]):
            encode_body(case["contentType"], case["payload"], encodings=encodings)
        return
    content, content_type = encode_body(case["contentType"], case["payload"], encodings=encodings)
    assert content is not None
    assert content_type == case.get("sentContentType", case["contentType"])
    if "bodyJson" in case:
        assert json.loads(content) == case["bodyJson"]
    elif "bodyHex" in case:  # not UTF-8
        assert content.hex() == case["bodyHex"]
    else:
        assert content.decode("utf-8") == case["body"]


@pytest.mark.parametrize("case", CASES["replace"], ids=[case["name"] for case in CASES["replace"]])
def test_replacements(case: dict[str, Any]) -> None:
    pairs = [(target, value) for target, value in case["replacements"]]
    if "error" in case:
        with pytest.raises(ExecutionError, match=case["error"]):
            apply_replacements(case["payload"], pairs, case["contentType"])
        return
    assert apply_replacements(case["payload"], pairs, case["contentType"]) == case["result"]


def test_replacements_do_not_change_the_payload_they_were_given() -> None:
    payload = {"a": {"b": 1}}
    apply_replacements(payload, [("/a/b", 2)], "application/json")
    assert payload == {"a": {"b": 1}}


def test_no_payload_means_no_body() -> None:
    assert encode_body("application/json", None) == (None, None)


def _parts(content: bytes, content_type: str) -> list[Any]:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + content)
    assert message.is_multipart()
    return list(message.iter_parts())


def test_multipart_form_data() -> None:
    upload = io.BytesIO(b"\x00\x01binary")
    upload.name = "/tmp/avatar.png"
    payload = {
        "name": "Rex",
        "age": 3,
        "photo": upload,
        "raw": b"abc",
        "meta": {"tags": ["a"]},
        "labels": ["x", "y"],
        "skip": None,
    }
    content, content_type = encode_body("multipart/form-data", payload, boundary="b0undary")
    assert content is not None and content_type == "multipart/form-data; boundary=b0undary"
    parts = _parts(content, content_type)
    names = [part.get_param("name", header="content-disposition") for part in parts]
    assert names == ["name", "age", "photo", "raw", "meta", "labels", "labels"]
    by_name = dict(zip(names, parts, strict=True))
    assert by_name["name"].get_payload(decode=True) == b"Rex"
    assert by_name["photo"].get_filename() == "avatar.png"
    assert by_name["photo"].get_content_type() == "application/octet-stream"
    assert by_name["photo"].get_payload(decode=True) == b"\x00\x01binary"
    assert by_name["raw"].get_payload(decode=True) == b"abc"
    assert by_name["meta"].get_content_type() == "application/json"
    assert json.loads(by_name["meta"].get_payload(decode=True)) == {"tags": ["a"]}
    assert [part.get_payload(decode=True) for part in parts[-2:]] == [b"x", b"y"]


def test_multipart_parts_take_the_type_their_encoding_object_names() -> None:
    payload = {
        "avatar": b"\x89PNG",
        "note": "café",
        "doc": "<a/>",
        "meta": {"tags": ["a"]},
        "ids": ["1", "2"],
        "count": 3,
        "any": b"\x00",
        "plain": "x",
        "latin": {"n": "café"},
        "code": "123",
    }
    encodings = _encodings(
        {
            "avatar": {"contentType": "image/png, image/jpeg"},
            "note": {"contentType": "text/plain; charset=iso-8859-1"},
            "doc": {"contentType": "application/xml"},
            "meta": {"contentType": "application/vnd.api+json"},
            "ids": {"contentType": "application/json"},
            "count": {"contentType": "application/json"},
            "any": {"contentType": "image/*"},
            "latin": {"contentType": "application/json; charset=iso-8859-1"},
            "code": {"contentType": "application/json"},
        }
    )
    content, content_type = encode_body("multipart/form-data", payload, boundary="b0", encodings=encodings)
    assert content is not None and content_type is not None
    parts = {
        str(part.get_param("name", header="content-disposition")): part
        for part in _parts(content, content_type)
    }
    assert list(parts) == list(payload)  # "ids" is one JSON part, not one part per item
    assert parts["avatar"].get_content_type() == "image/png"
    assert parts["avatar"].get_filename() == "avatar"
    assert parts["avatar"].get_payload(decode=True) == b"\x89PNG"
    assert parts["note"].get_content_type() == "text/plain"
    assert parts["note"].get_payload(decode=True) == "café".encode("iso-8859-1")
    assert parts["doc"].get_content_type() == "application/xml"
    assert parts["doc"].get_payload(decode=True) == b"<a/>"
    assert parts["meta"].get_content_type() == "application/vnd.api+json"
    assert json.loads(parts["meta"].get_payload(decode=True)) == {"tags": ["a"]}
    assert json.loads(parts["ids"].get_payload(decode=True)) == ["1", "2"]
    assert parts["count"].get_payload(decode=True) == b"3"
    assert parts["any"].get_content_type() == "application/octet-stream"  # a range names no type
    assert parts["plain"].get("Content-Type") is None
    assert parts["latin"].get_payload(decode=True) == '{"n":"café"}'.encode(
        "iso-8859-1"
    )  # JSON text in its charset
    assert parts["code"].get_payload(decode=True) == b'"123"'  # a JSON string, though its text reads as 123


FILE_PARTS = yaml.safe_load((Path(__file__).parent / "file_parts.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", FILE_PARTS, ids=[case["name"] for case in FILE_PARTS])
def test_a_property_described_as_a_file_is_a_file_part(case: dict[str, Any]) -> None:
    operation = build_operation("api", "http://127.0.0.1/", case["openapi"], "/x", "post")
    encodings = operation.request_encodings.get("multipart/form-data")
    content, content_type = encode_body("multipart/form-data", case["payload"], encodings=encodings)
    assert content is not None and content_type is not None
    got = [
        {
            "name": part.get_param("name", header="content-disposition"),
            "filename": part.get_filename(),
            "type": part.get_content_type() if part.get("Content-Type") else None,
            "data": part.get_payload(decode=True).decode("utf-8"),
        }
        for part in _parts(content, content_type)
    ]
    assert got == case["parts"]


def test_multipart_refuses_a_structure_for_a_part_type_without_one() -> None:
    encodings = _encodings({"meta": {"contentType": "application/xml"}})
    with pytest.raises(ExecutionError, match="part 'meta'"):
        encode_body("multipart/form-data", {"meta": {"a": 1}}, encodings=encodings)


def test_multipart_generates_a_fresh_boundary() -> None:
    _, first = encode_body("multipart/form-data", {"a": "1"})
    _, second = encode_body("multipart/form-data", {"a": "1"})
    assert first is not None and second is not None and first != second


def test_multipart_needs_an_object() -> None:
    with pytest.raises(ExecutionError, match="needs an object"):
        encode_body("multipart/form-data", [1])


@pytest.mark.parametrize(
    ("body", "operation_types", "expected"),
    [
        (RequestBody(content_type="application/xml"), ["application/json"], "application/xml"),
        (
            RequestBody(),
            ["application/x-www-form-urlencoded", "application/json"],
            "application/x-www-form-urlencoded",
        ),
        (RequestBody(), [], "application/json"),
        (None, [], "application/json"),
    ],
)
def test_choose_content_type(body: RequestBody | None, operation_types: list[str], expected: str) -> None:
    assert choose_content_type(body, operation_types) == expected
