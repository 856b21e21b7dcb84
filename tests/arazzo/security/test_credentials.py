"""Credentials from --auth / TOTPFLOW_AUTH_* applied per the OpenAPI security requirements."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from totpflow.arazzo.errors import UsageError
from totpflow.arazzo.masking import MASK, Masker
from totpflow.arazzo.params import RequestParts
from totpflow.arazzo.security import (
    Credential,
    apply_security,
    check_source_credential,
    load_credentials,
    parse_auth_option,
)

DATA = yaml.safe_load((Path(__file__).parent / "security_cases.yaml").read_text(encoding="utf-8"))


def _pairs(rows: list[list[str]] | None) -> list[tuple[str, str]]:
    return [(name, value) for name, value in rows or []]


@pytest.mark.parametrize("case", DATA["cases"], ids=[case["name"] for case in DATA["cases"]])
def test_apply_security(case: dict[str, Any]) -> None:
    schemes = DATA["schemes"]
    credentials = load_credentials(
        case.get("auth", []),
        case.get("env", {}),
        source_names=["api"],
        scheme_names={"api": list(schemes)},
    )
    explicit = RequestParts(headers=_pairs(case.get("explicit")))
    parts = apply_security(case["requirements"], schemes, credentials, source="api", explicit=explicit)
    assert parts.headers == _pairs(case.get("headers"))
    assert parts.query == _pairs(case.get("query"))
    assert parts.cookies == _pairs(case.get("cookies"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("src=alice:pw", ("src", None, Credential("basic", "pw", "alice"))),
        ("src=basic:alice:p:w", ("src", None, Credential("basic", "p:w", "alice"))),
        ("src=bearer:tok=", ("src", None, Credential("bearer", "tok="))),
        ("src=tok", ("src", None, Credential("value", "tok"))),
        ("src.apiKey=k:1", ("src", "apiKey", Credential("value", "k:1"))),
    ],
)
def test_parse_auth_option(text: str, expected: tuple[str, str | None, Credential]) -> None:
    assert parse_auth_option(text) == expected


@pytest.mark.parametrize("text", ["nosource", "=x", "src.=x"])
def test_parse_auth_option_rejects(text: str) -> None:
    with pytest.raises(UsageError):
        parse_auth_option(text)


def test_credentials_never_show_their_secret() -> None:
    _, _, credential = parse_auth_option("src=alice:s3cr3t-value")
    assert "s3cr3t-value" not in repr(credential)
    with pytest.raises(UsageError) as info:
        parse_auth_option("s3cr3t-value")
    assert "s3cr3t-value" not in str(info.value)


def test_every_credential_is_registered_with_the_masker() -> None:
    masker = Masker()
    load_credentials(
        ["api=alice:pw-123456", "other=bearer:tok-abcdef", "third.key=key-987654"],
        {"TOTPFLOW_AUTH_ENVSRC": "env-secret-1"},
        masker,
        source_names=["envsrc"],
    )
    basic = base64.b64encode(b"alice:pw-123456").decode()
    text = f"pw-123456 {basic} tok-abcdef key-987654 env-secret-1"
    assert masker.mask_text(text) == " ".join([MASK] * 5)


def test_whole_credentials_without_a_source_use_every_source() -> None:
    credentials = load_credentials(["api=u:p"], {})
    parts = apply_security([{"basicAuth": []}], DATA["schemes"], credentials)
    assert parts.headers == [("Authorization", "Basic dTpw")]
    assert apply_security([{"basicAuth": []}], DATA["schemes"], None).headers == []


def test_a_credential_with_a_line_break_is_refused_without_echoing_it() -> None:
    credentials = load_credentials(["api=bearer:tok\r\nX-Evil: 1"], {})
    with pytest.raises(UsageError, match="line break") as info:
        apply_security([{"bearerAuth": []}], DATA["schemes"], credentials, source="api")
    assert "tok" not in str(info.value)


@pytest.mark.parametrize(
    ("schemes", "refused"),
    [
        pytest.param({"basicAuth": DATA["schemes"]["basicAuth"]}, True, id="basic-only"),
        pytest.param({"swaggerBasic": DATA["schemes"]["swaggerBasic"]}, True, id="swagger-basic-only"),
        pytest.param({}, True, id="no-scheme"),
        pytest.param({"bearerAuth": DATA["schemes"]["bearerAuth"]}, False, id="bearer"),
        pytest.param({"headerKey": DATA["schemes"]["headerKey"]}, False, id="api-key"),
        pytest.param(DATA["schemes"], False, id="all"),
    ],
)
def test_a_plain_value_no_scheme_of_its_source_takes_is_refused(
    schemes: dict[str, Any], refused: bool
) -> None:
    """It could never be sent: a usage error before the run, naming the schemes, never the value."""
    if not refused:
        check_source_credential("api", Credential("value", "SECRETVAL"), schemes)
        return
    with pytest.raises(UsageError) as info:
        check_source_credential("api", Credential("value", "SECRETVAL"), schemes)
    assert "SECRETVAL" not in str(info.value) and "'api'" in str(info.value)
    for name in schemes:
        assert name in str(info.value)
