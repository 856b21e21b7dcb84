"""RFC 6238 Appendix B and RFC 4226 Appendix D vectors, and the ±1-step window (RFC 6238 §5.2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from totpflow.server.domain import totp

DATA = Path(__file__).parents[1] / "data"
RFC6238 = json.loads((DATA / "rfc6238.json").read_text(encoding="utf-8"))
RFC4226 = json.loads((DATA / "rfc4226.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("vector", RFC6238["vectors"], ids=lambda v: f"{v['mode']}-{v['time']}")
def test_rfc6238_appendix_b(vector: dict[str, Any]) -> None:
    key = RFC6238["seeds"][vector["mode"]].encode("ascii")
    assert totp.time_step(vector["time"]) == int(vector["step"], 16)
    assert totp.code_at(key, vector["time"], digits=8, algorithm=vector["mode"]) == vector["totp"]


@pytest.mark.parametrize(("counter", "expected"), list(enumerate(RFC4226["vectors"])))
def test_rfc4226_appendix_d(counter: int, expected: str) -> None:
    assert totp.hotp(RFC4226["secret"].encode("ascii"), counter) == expected


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_verify_accepts_adjacent_steps_and_returns_the_step(offset: int) -> None:
    key = totp.decode_secret(totp.new_secret())
    now = 1_700_000_010.0
    code = totp.code_at(key, now + offset * 30)
    assert totp.verify(key, code, now) == totp.time_step(now) + offset


@pytest.mark.parametrize("offset", [-2, 2])
def test_verify_rejects_steps_outside_the_window(offset: int) -> None:
    key = totp.decode_secret(totp.new_secret())
    now = 1_700_000_010.0
    code = totp.code_at(key, now + offset * 30)
    if code in {totp.code_at(key, now + d * 30) for d in (-1, 0, 1)}:
        pytest.skip("random secret produced a colliding code")
    assert totp.verify(key, code, now) is None


def test_secret_is_20_bytes_of_unpadded_base32() -> None:
    secret = totp.new_secret()
    assert len(secret) == 32
    assert len(totp.decode_secret(secret)) == 20


def test_verify_with_a_non_digit_code_is_none() -> None:
    assert totp.verify(b"k" * 20, "12345é", 1_700_000_000) is None
