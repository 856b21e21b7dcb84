"""The Masker: secret values everywhere, credential headers, readable JSON bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from totpflow.arazzo.masking import CREDENTIAL_FIELDS, MASK, Masker

ENCODED: dict[str, list[dict[str, Any]]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "masking_encoded.yaml").read_text(encoding="utf-8")
)


@pytest.mark.parametrize(
    ("secrets", "text", "expected"),
    [
        (["s3cr3t"], "token=s3cr3t&x=1", f"token={MASK}&x=1"),
        (["s3cr3t"], "s3cr3ts3cr3t", MASK * 2),
        (["abc", "abcdef"], "abcdef abc", f"{MASK} {MASK}"),  # the longest secret first
        (["abcdef", "abc"], "abcdef abc", f"{MASK} {MASK}"),  # whatever the order they were registered in
        (["bcd", "abcdefg"], "xabcdefgx bcd", f"x{MASK}x {MASK}"),  # a secret inside a longer one
        (["abc", "ABC"], "abcABCabc", MASK * 3),
        (["a.b*c(d)"], "x a.b*c(d) aXbbc", f"x {MASK} aXbbc"),  # regex metacharacters are literal
        ([123456], '{"code": 123456}', f'{{"code": {MASK}}}'),
        (["ab"], "ab", MASK),  # a short secret: only as a whole value
        (["ab"], "cab", "cab"),
        ([None, "", True], "None True", "None True"),
    ],
)
def test_mask_text(secrets: list[object], text: str, expected: str) -> None:
    assert Masker(secrets).mask_text(text) == expected


def test_a_secret_added_later_is_masked_from_then_on() -> None:
    masker = Masker(["first-secret"])
    assert masker.mask_text("second-secret") == "second-secret"
    masker.add("second-secret")
    assert masker.mask_text("first-secret second-secret") == f"{MASK} {MASK}"
    masker.add("a first-secret b")  # longer than one already held: masked whole from now on
    assert masker.mask_text("x a first-secret b y") == f"x {MASK} y"


def test_many_secrets_are_each_masked() -> None:
    tokens = [f"tok{index:04d}-{'x' * (index % 7)}" for index in range(300)]
    masker = Masker()
    for token in tokens:
        masker.add(token)
    text = " ".join(reversed(tokens))
    assert masker.mask_text(text) == " ".join([MASK] * len(tokens))


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("Authorization", "Basic dXNlcjpwYXNz", f"Basic {MASK}"),
        ("authorization", "opaque", MASK),
        ("Proxy-Authorization", "Bearer t", f"Bearer {MASK}"),
        ("Cookie", "a=1; b=2", f"a={MASK}; b={MASK}"),
        ("Set-Cookie", "sid=abc; Path=/; HttpOnly", f"sid={MASK}; Path=/; HttpOnly"),
        ("X-API-Key", "k", MASK),
        ("Content-Type", "application/json", "application/json"),
        ("X-Echo", "has my-password-1 inside", f"has {MASK} inside"),
    ],
)
def test_mask_headers(name: str, value: str, expected: str) -> None:
    assert Masker(["my-password-1"]).mask_headers([(name, value)]) == ((name, expected),)


def test_extra_sensitive_header() -> None:
    masker = Masker()
    masker.add_header("X-Custom-Key")
    assert masker.mask_headers([("x-custom-key", "v")]) == (("x-custom-key", MASK),)


def test_mask_json_keeps_bodies_readable() -> None:
    masker = Masker(["tok-123456"])
    body = {
        "user_id": "user-1",
        "session_token": "tok-123456",
        "nested": [{"note": "Bearer tok-123456"}, 7, None, True],
        "password": "anything",
        "client_secret": None,
    }
    assert masker.mask_json(body) == {
        "user_id": "user-1",
        "session_token": MASK,
        "nested": [{"note": f"Bearer {MASK}"}, 7, None, True],
        "password": MASK,  # a credential by definition
        "client_secret": None,
    }
    assert body["session_token"] == "tok-123456"  # a copy; the original is untouched


@pytest.mark.parametrize("key", ["sessionToken", "SESSION_TOKEN", "session-token", "accessToken", "Password"])
def test_a_sensitive_key_in_any_case_or_style(key: str) -> None:
    masker = Masker()
    raw = f'{{"{key}": "tok-abcdef-123456", "note": "n"}}'
    assert masker.may_need_json_masking(raw)
    assert masker.mask_json({key: "tok-abcdef-123456", "note": "n"}) == {key: MASK, "note": "n"}
    assert masker.mask_text("later tok-abcdef-123456") == f"later {MASK}"


def test_an_otpauth_uri_is_masked_wherever_it_stands() -> None:
    """A TOTP key URI carries the shared secret: masked under any key, as ``secret`` is; with only the
    credential fields sensitive (``--show-secrets``) it is shown, as ``secret`` is."""
    uri = "otpauth://totp/x?secret=KRSXG5CTMVRXEZLU&issuer=x"
    body = {"data": {"uri": uri}}
    masker = Masker()
    assert masker.may_need_json_masking(b'{"data": {"uri": "otpauth://totp/x"}}')
    assert masker.mask_json(body) == {"data": {"uri": MASK}}
    assert masker.mask_text(f"see {uri}") == f"see {MASK}"
    assert Masker(sensitive_fields=CREDENTIAL_FIELDS).mask_json(body) == body


def test_containers_register_their_leaves() -> None:
    masker = Masker()
    masker.add({"codes": ["rc-1111", "rc-2222"], "n": 3})
    assert masker.secrets == {"rc-1111", "rc-2222", "3"}
    assert masker.is_secret("rc-1111") and not masker.is_secret("rc-3333")


def test_a_structure_under_a_sensitive_key_registers_only_credential_like_leaves() -> None:
    masker = Masker()
    body = {
        "token": {"type": "list", "value": "tk-7Hq2mZ9xLp", "scheme": "bearer", "note": "two words here"},
        "recovery_codes": ["ckss-2skx-ebow", "plmq-8fjd-qqwo"],
        "secret": "JBSWY3DPEHPK3PXP",
    }
    masked = masker.mask_json(body)
    assert masked == {"token": MASK, "recovery_codes": MASK, "secret": MASK}  # masked whole where it stands
    assert masker.secrets == {"tk-7Hq2mZ9xLp", "ckss-2skx-ebow", "plmq-8fjd-qqwo", "JBSWY3DPEHPK3PXP"}
    # ordinary words of the structure stay readable in every other text; the credentials do not
    assert masker.mask_text("list index 5 is out of range") == "list index 5 is out of range"
    assert masker.mask_text("Bearer tk-7Hq2mZ9xLp, code ckss-2skx-ebow") == f"Bearer {MASK}, code {MASK}"


def test_sensitive_fields_can_be_extended() -> None:
    masker = Masker()
    masker.add_field("Recovery_Codes")
    assert masker.mask_json({"recovery_codes": ["a", "b"]}) == {"recovery_codes": MASK}


@pytest.mark.parametrize("case", ENCODED["text"], ids=lambda case: case["id"])
def test_a_secret_is_masked_in_its_encoded_forms(case: dict[str, Any]) -> None:
    assert Masker(case["secrets"]).mask_text(case["text"]) == case["expect"]


@pytest.mark.parametrize("case", ENCODED["url"], ids=lambda case: case["id"])
def test_mask_url(case: dict[str, Any]) -> None:
    masker = Masker(case["secrets"])
    assert masker.mask_url(case["url"], query_values=case.get("query_values", False)) == case["expect"]
    for value in case.get("registered", []):
        assert masker.is_secret(value)


@pytest.mark.parametrize(
    ("name", "value", "registered"),
    [
        ("X-Auth-Token", "HdrTok-0123456789", "HdrTok-0123456789"),
        ("Set-Cookie", "sid=Cookie-0123456789; Path=/; HttpOnly", "Cookie-0123456789"),
        ("Cookie", "a=1; sid=Cookie-0123456789", "Cookie-0123456789"),
        ("Authorization", "Bearer bearer-0123456789", "bearer-0123456789"),
    ],
)
def test_a_sensitive_header_registers_what_it_carries(name: str, value: str, registered: str) -> None:
    """A token a response hands out in a header is masked wherever it is quoted later (an output, a
    message); short cookie values ("1") are not registered, or every 1 of every report would be masked."""
    masker = Masker()
    masker.mask_headers([(name, value)])
    assert masker.is_secret(registered)
    assert masker.mask_text(f"token ({registered}) == 'nope'") == f"token ({MASK}) == 'nope'"
    assert not masker.is_secret("1")
